package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

const (
	// claimsCollection holds one claim per key (an Idempotency-Key id or a
	// client CloudEvent's purchase id) as _id.
	claimsCollection = "claims"
	// maxClaimBody bounds PUT /claims/{key}; a real one is about 120 bytes.
	maxClaimBody = 1 << 10
)

// errClaimedByOther means a key is claimed already, by a different purchase.
var errClaimedByOther = errors.New("key claimed by a different purchase")

// claim binds a key to the one purchase it may be used for, by id and
// fingerprint (cm-server derives both; here they are opaque).
type claim struct {
	Key         string    `bson:"_id"`
	PurchaseID  string    `bson:"purchase_id"`
	Fingerprint string    `bson:"fingerprint"`
	ClaimedAt   time.Time `bson:"claimed_at"`
}

// claimOutcome says whether the key is now the purchase's (created) or
// was already, and then whether the purchase is stored.
type claimOutcome struct {
	created, stored bool
}

// Claim binds c.Key to c's purchase atomically, by an insert by _id, so two
// claims of one key on any replicas cannot both create it. A key already
// claimed is read back: for the same purchase, whether it is stored; for
// another, errClaimedByOther.
func (s *mongoStore) Claim(ctx context.Context, c claim) (claimOutcome, error) {
	_, err := s.claims.InsertOne(ctx, c)
	if err == nil {
		return claimOutcome{created: true}, nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return claimOutcome{}, fmt.Errorf("claim key %s: %w", c.Key, err)
	}
	var held claim
	if err := s.claims.FindOne(ctx, bson.D{{Key: "_id", Value: c.Key}}).Decode(&held); err != nil {
		return claimOutcome{}, fmt.Errorf("read claim of key %s: %w", c.Key, err)
	}
	if held.PurchaseID != c.PurchaseID || held.Fingerprint != c.Fingerprint {
		return claimOutcome{}, fmt.Errorf("claim key %s: %w", c.Key, errClaimedByOther)
	}
	err = s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: c.PurchaseID}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return claimOutcome{}, nil
	case err != nil:
		return claimOutcome{}, fmt.Errorf("find claimed purchase %s: %w", c.PurchaseID, err)
	}
	return claimOutcome{stored: true}, nil
}

// claimRequest is the body of PUT /claims/{key}.
type claimRequest struct {
	PurchaseID  string `json:"purchase_id"`
	Fingerprint string `json:"fingerprint"`
}

// claimResponse answers a claim the key is, or now is, the purchase's.
type claimResponse struct {
	Status     string `json:"status"`
	PurchaseID string `json:"purchase_id"`
	Stored     bool   `json:"stored"`
}

// handleClaim answers PUT /claims/{key}: 201 when the key is now the
// purchase's, 200 when it already was, 409 when another purchase holds it.
func handleClaim(log *slog.Logger, st store, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := readClaim(w, r, now())
		if err != nil {
			server.Fail(w, r, log, err)
			return
		}
		out, err := st.Claim(r.Context(), c)
		switch {
		case errors.Is(err, errClaimedByOther):
			server.Fail(w, r, log, &server.Problem{Status: http.StatusConflict,
				Message: "this key is claimed by a different purchase"})
		case err != nil:
			server.Fail(w, r, log, readProblem(err))
		case out.created:
			server.Encode(w, http.StatusCreated, claimResponse{server.StatusOK, c.PurchaseID, false})
		default:
			server.Encode(w, http.StatusOK, claimResponse{server.StatusOK, c.PurchaseID, out.stored})
		}
	})
}

// readClaim turns a PUT /claims/{key} request into a claim made at now.
func readClaim(w http.ResponseWriter, r *http.Request, now time.Time) (claim, error) {
	key := r.PathValue("key")
	if uuid.Validate(key) != nil {
		return claim{}, server.BadRequest("key", "must be a UUID")
	}
	body, err := server.ReadBody(w, r, maxClaimBody)
	if err != nil {
		return claim{}, err
	}
	var req claimRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return claim{}, server.BadRequest("body", "must be {\"purchase_id\":UUID,\"fingerprint\":...}")
	}
	switch {
	case uuid.Validate(req.PurchaseID) != nil:
		return claim{}, server.BadRequest("purchase_id", "must be a UUID")
	case !isSHA256Hex(req.Fingerprint):
		return claim{}, server.BadRequest("fingerprint", "must be a SHA-256 in lowercase hex (64 characters)")
	}
	return claim{Key: key, PurchaseID: req.PurchaseID, Fingerprint: req.Fingerprint, ClaimedAt: now.UTC()}, nil
}

// isSHA256Hex reports whether s is a SHA-256 sum in lowercase hex, as
// cm-server writes a fingerprint. (Anything else, a NUL say, would reach
// the dev store, whose PostgreSQL JSON cannot hold it.)
func isSHA256Hex(s string) bool {
	sum, err := hex.DecodeString(s)
	return err == nil && len(sum) == sha256.Size && s == strings.ToLower(s)
}
