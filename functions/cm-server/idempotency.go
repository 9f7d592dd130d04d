package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// claimer binds a key to the one purchase it may be used for, in one
// atomic step in the store (cm-api's PUT /claims/{key}), or fails with
// errKeyClaimed when another purchase holds it.
type claimer interface {
	claim(ctx context.Context, key, purchaseID, fingerprint string) (claimed, error)
}

// claimed is what a claim came to: the key is newly this purchase's
// (created), or was already, and then stored says if the purchase is.
type claimed struct {
	created, stored bool
}

// errKeyClaimed means a key is held by a different purchase.
var errKeyClaimed = errors.New("key claimed by a different purchase")

// keyIDs derives from an Idempotency-Key the key's id (a UUID of the key
// and the user) and the purchase id (of those and the price, the fields
// Equivalent compares, so a retry without a timestamp is the same purchase).
func keyIDs(key string, p purchase.Purchase) (keyID, purchaseID string) {
	return uuid.NewSHA1(idempotencyNamespace, []byte(keyUser(key, p))).String(), keyPurchaseID(key, p)
}

// keyPurchaseID is keyIDs' purchase id alone: what a purchase sent without
// a key needs for the key cm-server picks for it (never claimed).
func keyPurchaseID(key string, p purchase.Purchase) string {
	return uuid.NewSHA1(idempotencyNamespace, []byte(keyUser(key, p)+"\x00"+p.Price.String())).String()
}

func keyUser(key string, p purchase.Purchase) string {
	return p.UserID + "\x00" + p.Username + "\x00" + key
}

// claimKey is the key p is claimed under before it is sent: its
// Idempotency-Key id, a client's CloudEvent's purchase id (derived from the
// event's source and id), or "" for neither.
func claimKey(p purchase.Purchase) string {
	if p.KeyID != "" {
		return p.KeyID
	}
	if p.Origin != (purchase.Origin{}) {
		return p.ID
	}
	return ""
}

// fingerprint is what p is, as Equivalent compares it: the user and the
// price, not the timestamp, which a retry may leave to the server.
func fingerprint(p purchase.Purchase) string {
	sum := sha256.Sum256([]byte(p.UserID + "\x00" + p.Username + "\x00" + p.Price.String()))
	return hex.EncodeToString(sum[:])
}

// claimPurchase claims p's key for p before it is sent; stored means p is
// stored already (send nothing). It fails with 422 when the key is another
// purchase's, 502 when cm-api refuses cm-server, and 503 when cm-api cannot
// answer: sending unchecked could let two replicas acknowledge two
// purchases for one key.
func claimPurchase(ctx context.Context, api claimer, key string, p purchase.Purchase) (stored bool, err error) {
	out, err := api.claim(ctx, key, p.ID, fingerprint(p))
	switch {
	case errors.Is(err, errKeyClaimed) && p.KeyID != "":
		return false, errKeyReused
	case errors.Is(err, errKeyClaimed):
		return false, errEventReused
	case errors.Is(err, errAPIRefused):
		return false, err // a *server.Problem: 502, logged with its cause
	case err != nil:
		return false, &server.Problem{Status: http.StatusServiceUnavailable, RetryAfter: time.Second,
			Message: "the purchase could not be checked against earlier uses of its key; nothing was sent: retry with the same Idempotency-Key (or CloudEvent source and id)",
			Err:     err}
	}
	return out.stored, nil
}

// errKeyReused answers a key that was already used for another purchase.
var errKeyReused = &server.Problem{Status: http.StatusUnprocessableEntity,
	Message: "this Idempotency-Key was already used for a different purchase; use a new key for a new purchase",
	Fields:  map[string]string{"Idempotency-Key": "already used for a different purchase"}}

// errEventReused answers a CloudEvent whose source and id were already
// used for another purchase (cm-api would dead-letter it).
var errEventReused = &server.Problem{Status: http.StatusUnprocessableEntity,
	Message: "this CloudEvent source and id were already used for a different purchase; send a new purchase with a new id",
	Fields:  map[string]string{"id": "already used with this source for a different purchase"}}

// keysInFlight are the keys of requests this process is handling; a second
// request with one of them is answered 409 until the first is answered, as
// the IETF Idempotency-Key draft says.
type keysInFlight struct {
	keys sync.Map
}

// claim marks key in flight, or answers false if it already is.
func (k *keysInFlight) claim(key string) bool {
	_, busy := k.keys.LoadOrStore(key, struct{}{})
	return !busy
}

func (k *keysInFlight) release(key string) { k.keys.Delete(key) }

// countingClaimer counts what a claimer's claims came to.
type countingClaimer struct {
	claimer
	results *prometheus.CounterVec
}

func (c countingClaimer) claim(ctx context.Context, key, purchaseID, fp string) (claimed, error) {
	out, err := c.claimer.claim(ctx, key, purchaseID, fp)
	switch {
	case errors.Is(err, errKeyClaimed):
		c.results.WithLabelValues("other").Inc()
	case err != nil:
		c.results.WithLabelValues("failed").Inc()
	case out.created:
		c.results.WithLabelValues("new").Inc()
	case out.stored:
		c.results.WithLabelValues("stored").Inc()
	default:
		c.results.WithLabelValues("same").Inc()
	}
	return out, err
}

// claimBody is the body of cm-api's PUT /claims/{key}.
type claimBody struct {
	PurchaseID  string `json:"purchase_id"`
	Fingerprint string `json:"fingerprint"`
}

// claim asks cm-api to bind key to the purchase, bounded by c.timeout.
func (c *apiClient) claim(ctx context.Context, key, purchaseID, fp string) (claimed, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	body, _ := json.Marshal(claimBody{purchaseID, fp}) // two strings: cannot fail
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base+"/claims/"+url.PathEscape(key), bytes.NewReader(body))
	if err != nil {
		return claimed{}, fmt.Errorf("build cm-api request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return claimed{}, fmt.Errorf("claim key %s: %w", key, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		return claimed{created: true}, nil
	case http.StatusOK:
		var out struct {
			Stored bool `json:"stored"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxListBody)).Decode(&out); err != nil {
			return claimed{}, fmt.Errorf("claim key %s: decode cm-api answer: %w", key, err)
		}
		return claimed{stored: out.Stored}, nil
	case http.StatusConflict:
		return claimed{}, fmt.Errorf("claim key %s: %w", key, errKeyClaimed)
	case http.StatusUnauthorized, http.StatusForbidden:
		return claimed{}, fmt.Errorf("claim key %s: %w", key, refused(resp.StatusCode))
	}
	return claimed{}, fmt.Errorf("claim key %s: cm-api answered %d", key, resp.StatusCode)
}
