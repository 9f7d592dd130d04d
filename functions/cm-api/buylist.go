package main

import (
	"log/slog"
	"net/http"

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
			server.Fail(w, r, log, storeProblem(err))
			return
		}
		if ps == nil {
			ps = []purchase.Purchase{}
		}
		server.Encode(w, http.StatusOK, buyListResponse{server.StatusOK, ps, next})
	})
}
