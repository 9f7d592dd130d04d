package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

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

// listKeys is the list order: a user's purchases newest first, ties by id.
var listKeys = bson.D{{Key: "username", Value: 1}, {Key: "timestamp", Value: -1}, {Key: "_id", Value: -1}}

// listIndex serves List's filter and sort. It is made anew for each use:
// the driver writes into an index's options.
func listIndex() mongo.IndexModel {
	return mongo.IndexModel{Keys: listKeys, Options: options.Index().SetName(listIndexName)}
}

const listIndexName = "username_timestamp_id"

// listProjection reads only what a list shows.
var listProjection = bson.D{{Key: "username", Value: 1}, {Key: "userid", Value: 1},
	{Key: "price_minor", Value: 1}, {Key: "timestamp", Value: 1}}

// List returns one page of a user's purchases and the cursor of the next
// ("" on the last). It reads limit+1 documents to know whether there is a
// next page.
func (s *mongoStore) List(ctx context.Context, username string, page purchase.Page) ([]purchase.Purchase, string, error) {
	q, err := newListQuery(username, page)
	if err != nil {
		return nil, "", err
	}
	opts := options.Find().SetSort(q.sort).SetLimit(q.limit).SetProjection(q.projection)
	cur, err := s.coll.Find(ctx, q.filter, opts)
	if err != nil {
		return nil, "", fmt.Errorf("list purchases of %q: %w", username, err)
	}
	var docs []document
	if err := cur.All(ctx, &docs); err != nil {
		return nil, "", fmt.Errorf("read purchases of %q: %w", username, err)
	}
	next := ""
	if len(docs) > page.Limit {
		docs = docs[:page.Limit]
		last := docs[len(docs)-1]
		next = encodeCursor(cursor{Timestamp: last.Timestamp, ID: last.ID})
	}
	out := make([]purchase.Purchase, len(docs))
	for i, d := range docs {
		out[i] = d.purchase()
	}
	return out, next, nil
}

// listQuery is the find List sends, in listIndex's order so that the index
// serves filter and sort (TestListIsIndexBacked).
type listQuery struct {
	filter, sort, projection bson.D
	limit                    int64
}

func newListQuery(username string, page purchase.Page) (listQuery, error) {
	filter := bson.D{{Key: "username", Value: username}}
	if page.Cursor != "" {
		c, err := decodeCursor(page.Cursor)
		if err != nil {
			return listQuery{}, err
		}
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "timestamp", Value: bson.D{{Key: "$lt", Value: c.Timestamp}}}},
			bson.D{{Key: "timestamp", Value: c.Timestamp}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: c.ID}}}},
		}})
	}
	return listQuery{filter: filter, sort: listKeys, projection: listProjection,
		limit: int64(page.Limit) + 1}, nil
}

// cursor is the position after the last purchase of a page, in list order.
type cursor struct {
	Timestamp time.Time `json:"t"`
	ID        string    `json:"i"`
}

// encodeCursor makes the opaque next_cursor clients pass back.
func encodeCursor(c cursor) string {
	data, _ := json.Marshal(c) // a time and a string always marshal
	return base64.RawURLEncoding.EncodeToString(data)
}

// decodeCursor reads a cursor; anything this service did not make is a 400.
func decodeCursor(s string) (cursor, error) {
	bad := server.BadRequest("cursor", "is not a cursor this service returned")
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	var c cursor
	if err := json.Unmarshal(data, &c); err != nil || c.ID == "" || c.Timestamp.IsZero() {
		return cursor{}, bad
	}
	return c, nil
}
