package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// keyIndexName names the index FindByKey uses.
const keyIndexName = "key_id"

// keyIndex serves FindByKey. Not unique: when two different purchases come
// with one Idempotency-Key at once, both are stored (cm-server acknowledged
// both), and a later look-up finds one of them.
func keyIndex() mongo.IndexModel {
	return mongo.IndexModel{Keys: bson.D{{Key: "key_id", Value: 1}}, Options: options.Index().SetName(keyIndexName)}
}

// FindByKey finds a purchase stored with the Idempotency-Key id keyID. A
// purchase stored before key ids were kept has it as its _id (ids were
// derived from the key and the user only), so that is looked for next.
func (s *mongoStore) FindByKey(ctx context.Context, keyID string) (purchase.Purchase, bool, error) {
	for _, filter := range keyFilters(keyID) {
		var d document
		err := s.coll.FindOne(ctx, filter).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return purchase.Purchase{}, false, fmt.Errorf("find purchase by key %s: %w", keyID, err)
		}
		return d.purchase(), true, nil
	}
	return purchase.Purchase{}, false, nil
}

// keyFilters are FindByKey's look-ups, in order: by key_id, then, stored by
// an earlier version, by _id. Each is an equality on one field, served by
// one index on MongoDB and pushed down to PostgreSQL by FerretDB, the dev
// store; an $or of the two is served by both indexes on MongoDB but read
// the whole collection on FerretDB.
func keyFilters(keyID string) []bson.D {
	return []bson.D{{{Key: "key_id", Value: keyID}}, {{Key: "_id", Value: keyID}}}
}

// keyResponse is the answer of GET /purchaseByKey/{keyid}.
type keyResponse struct {
	Status   string            `json:"status"`
	Purchase purchase.Purchase `json:"purchase"`
}

// handlePurchaseByKey answers GET /purchaseByKey/{keyid}: the purchase stored
// with that Idempotency-Key id (cm-server derives it from the key and the
// user), or 404. cm-server asks before sending a keyed purchase.
func handlePurchaseByKey(log *slog.Logger, st store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keyID := r.PathValue("keyid")
		if uuid.Validate(keyID) != nil {
			server.Fail(w, r, log, server.BadRequest("keyid", "must be a UUID"))
			return
		}
		p, found, err := st.FindByKey(r.Context(), keyID)
		if err != nil {
			server.Fail(w, r, log, storeProblem(err))
			return
		}
		if !found {
			server.Fail(w, r, log, &server.Problem{Status: http.StatusNotFound, Message: "no purchase with this key"})
			return
		}
		server.Encode(w, http.StatusOK, keyResponse{server.StatusOK, p})
	})
}
