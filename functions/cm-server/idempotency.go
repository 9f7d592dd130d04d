package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// keyLookupTimeout bounds the look-up of an Idempotency-Key in cm-api. A
// look-up that fails or takes longer does not stop the purchase: buying
// does not depend on cm-api (see checkKey).
const keyLookupTimeout = time.Second

// keyLookup finds the purchase stored with an Idempotency-Key id.
type keyLookup interface {
	purchaseByKey(ctx context.Context, keyID string) (stored purchase.Purchase, found bool, err error)
}

// keyIDs derives, from an Idempotency-Key and the purchase it came with,
// the key's id (the key and the user) and the purchase id (the key, the
// user and what the purchase is: the same fields as Equivalent, so a retry
// without a timestamp is still the same purchase).
func keyIDs(key string, p purchase.Purchase) (keyID, purchaseID string) {
	user := p.UserID + "\x00" + p.Username + "\x00" + key
	return uuid.NewSHA1(idempotencyNamespace, []byte(user)).String(),
		uuid.NewSHA1(idempotencyNamespace, []byte(user+"\x00"+p.Price.String())).String()
}

// keysInFlight are the Idempotency-Key ids of requests this process is
// handling; a second request with one of them is answered 409 until the
// first is answered, as the IETF Idempotency-Key draft says.
type keysInFlight struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

func (k *keysInFlight) claim(keyID string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, busy := k.keys[keyID]; busy {
		return false
	}
	if k.keys == nil {
		k.keys = map[string]struct{}{}
	}
	k.keys[keyID] = struct{}{}
	return true
}

func (k *keysInFlight) release(keyID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, keyID)
}

// errKeyReused answers a key that was already used for another purchase.
var errKeyReused = &server.Problem{Status: http.StatusUnprocessableEntity,
	Message: "this Idempotency-Key was already used for a different purchase; use a new key for a new purchase",
	Fields:  map[string]string{"Idempotency-Key": "already used for a different purchase"}}

// checkKey asks cm-api whether p's key is stored already. It returns the
// id of the stored purchase when it is p (answer as the first time, send
// nothing), or fails with errKeyReused when it is another purchase. The
// stored purchase is compared by content, not id: one stored before ids
// included the price has the key's id as its own. When cm-api cannot
// tell, p is sent anyway: its id is derived from key and purchase, so the
// worst case, a key reused with another purchase while the first was not
// yet stored, stores two purchases; nothing acknowledged is lost or
// overwritten.
func checkKey(ctx context.Context, log *slog.Logger, api keyLookup, p purchase.Purchase) (storedID string, err error) {
	ctx, cancel := context.WithTimeout(ctx, keyLookupTimeout)
	defer cancel()
	stored, found, err := api.purchaseByKey(ctx, p.KeyID)
	switch {
	case errors.Is(err, errAPIRefused):
		// A deployment error, said at every look-up until it is fixed.
		log.Error("idempotency key look-up refused by cm-api; sending", "purchase_id", p.ID, "err", err)
		return "", nil
	case err != nil:
		// Counted in shop_key_lookups_total; cm-api's outage shows in
		// getAllUserBuys and its own readiness, not once per purchase here.
		log.Debug("idempotency key look-up failed; sending", "purchase_id", p.ID, "err", err)
		return "", nil
	case !found:
		return "", nil
	case stored.Username != p.Username || stored.UserID != p.UserID || stored.Price != p.Price:
		return "", errKeyReused
	}
	return stored.ID, nil
}

// countingLookup counts what a keyLookup's look-ups came to.
type countingLookup struct {
	keyLookup
	results *prometheus.CounterVec
}

func (c countingLookup) purchaseByKey(ctx context.Context, keyID string) (purchase.Purchase, bool, error) {
	p, found, err := c.keyLookup.purchaseByKey(ctx, keyID)
	switch {
	case err != nil:
		c.results.WithLabelValues("failed").Inc()
	case found:
		c.results.WithLabelValues("found").Inc()
	default:
		c.results.WithLabelValues("not_found").Inc()
	}
	return p, found, err
}

// keyedPurchase is the part of cm-api's GET /purchaseByKey answer read here.
type keyedPurchase struct {
	Purchase struct {
		ID       string         `json:"_id"`
		Username string         `json:"username"`
		UserID   string         `json:"userid"`
		Price    purchase.Money `json:"price"`
	} `json:"purchase"`
}

// purchaseByKey asks cm-api for the purchase stored with keyID, or found
// false on 404.
func (c *apiClient) purchaseByKey(ctx context.Context, keyID string) (purchase.Purchase, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/purchaseByKey/"+url.PathEscape(keyID), nil)
	if err != nil {
		return purchase.Purchase{}, false, fmt.Errorf("build cm-api request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return purchase.Purchase{}, false, fmt.Errorf("look up key %s: %w", keyID, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return purchase.Purchase{}, false, fmt.Errorf("look up key %s: %w", keyID, refused(resp.StatusCode))
	case http.StatusNotFound:
		return purchase.Purchase{}, false, nil
	case http.StatusOK:
		var out keyedPurchase
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxListBody)).Decode(&out); err != nil || out.Purchase.ID == "" {
			return purchase.Purchase{}, false, fmt.Errorf("look up key %s: decode cm-api answer: %w", keyID,
				errors.Join(err, errors.New("no purchase id")))
		}
		k := out.Purchase
		return purchase.Purchase{ID: k.ID, Username: k.Username, UserID: k.UserID, Price: k.Price}, true, nil
	}
	return purchase.Purchase{}, false, fmt.Errorf("look up key %s: cm-api answered %d", keyID, resp.StatusCode)
}
