package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// buyListResponse is one page of a user's purchases.
type buyListResponse struct {
	Status     string              `json:"status"`
	Purchases  []purchase.Purchase `json:"purchases"`
	NextCursor string              `json:"next_cursor,omitempty"`
}

// handleBuyList answers GET /buyList/{username}: newest first, paged.
func handleBuyList(log *slog.Logger, st store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		username, page, err := purchase.ParseList(r.PathValue("username"), r.URL.Query())
		if err != nil {
			server.Fail(w, r, log, err)
			return
		}
		ps, next, err := st.List(r.Context(), username, page)
		if err != nil {
			server.Fail(w, r, log, readProblem(err))
			return
		}
		if ps == nil {
			ps = []purchase.Purchase{}
		}
		server.Encode(w, http.StatusOK, buyListResponse{server.StatusOK, ps, next})
	})
}

// readProblem answers a failed read: 504 naming the store when it did not
// answer in time (cm-server passes the message on), else as storeProblem.
func readProblem(err error) error {
	if mongo.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
		return &server.Problem{Status: http.StatusGatewayTimeout,
			Message: "the purchase store (MongoDB) did not answer in time", Err: err}
	}
	return storeProblem(err)
}
