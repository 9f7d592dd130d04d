package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
)

// TestMongoStoreClaimIsAtomic runs claims on the real wire protocol: of
// many different claims of one key at once, exactly one creates it and
// every other is errClaimedByOther; the winner's claim again is "already
// yours", not stored until its purchase is, then stored.
func TestMongoStoreClaimIsAtomic(t *testing.T) {
	t.Parallel()
	st := newTestStore(t)
	ctx := t.Context()
	key := uuid.NewString()
	const n = 8
	claims := make([]claim, n)
	outcomes := make([]claimOutcome, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		claims[i] = claim{Key: key, PurchaseID: uuid.NewString(), Fingerprint: "f" + uuid.NewString(), ClaimedAt: time.Now()}
		wg.Go(func() { outcomes[i], errs[i] = st.Claim(ctx, claims[i]) })
	}
	wg.Wait()
	winner := -1
	for i := range n {
		switch {
		case errs[i] == nil && outcomes[i].created:
			if winner >= 0 {
				t.Fatalf("claims %d and %d both created key %s", winner, i, key)
			}
			winner = i
		case !errors.Is(errs[i], errClaimedByOther):
			t.Errorf("claim %d: got %+v, %v, want created or errClaimedByOther", i, outcomes[i], errs[i])
		}
	}
	if winner < 0 {
		t.Fatal("no claim created the key")
	}
	if got, err := st.Claim(ctx, claims[winner]); err != nil || got != (claimOutcome{}) {
		t.Errorf("the winner's claim again, purchase not stored: got %+v, %v, want not created, not stored", got, err)
	}
	p := mustPurchase(t, claims[winner].PurchaseID, "claimer", "3.00", "2024-05-31T15:54:32.204Z")
	if _, err := saveOne(ctx, st, p); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Claim(ctx, claims[winner]); err != nil || got != (claimOutcome{stored: true}) {
		t.Errorf("the winner's claim again, purchase stored: got %+v, %v, want stored", got, err)
	}
	if n, err := st.claims.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Errorf("claims stored: got %d, %v, want 1", n, err)
	}
}

// TestClaimRoute answers through the real mux.
func TestClaimRoute(t *testing.T) {
	t.Parallel()
	h := newTestServer(t, newMemStore())
	key, pid := uuid.NewString(), uuid.NewString()
	f1, f2 := strings.Repeat("1", 64), strings.Repeat("2", 64)
	body := func(purchaseID, fingerprint string) string {
		return `{"purchase_id":"` + purchaseID + `","fingerprint":"` + fingerprint + `"}`
	}
	tests := []struct {
		name, path, body string
		want             int
		wantBody         string
	}{
		{"201_new_key", "/claims/" + key, body(pid, f1), http.StatusCreated, `"stored":false`},
		{"200_same_purchase", "/claims/" + key, body(pid, f1), http.StatusOK, `"purchase_id":"` + pid + `"`},
		{"409_other_price", "/claims/" + key, body(pid, f2), http.StatusConflict, `claimed by a different purchase`},
		{"409_other_purchase", "/claims/" + key, body(uuid.NewString(), f1), http.StatusConflict, `claimed by a different purchase`},
		{"400_key_not_uuid", "/claims/k-1", body(pid, f1), http.StatusBadRequest, `"key"`},
		{"400_purchase_not_uuid", "/claims/" + uuid.NewString(), body("p-1", f1), http.StatusBadRequest, `"purchase_id"`},
		{"400_no_fingerprint", "/claims/" + uuid.NewString(), body(pid, ""), http.StatusBadRequest, `"fingerprint"`},
		// What PostgreSQL's JSON cannot hold is the client's error, not the store's.
		{"400_fingerprint_nul", "/claims/" + uuid.NewString(), body(pid, `\u0000`+f1[1:]), http.StatusBadRequest, `"fingerprint"`},
		{"400_fingerprint_not_hex", "/claims/" + uuid.NewString(), body(pid, strings.ToUpper(f1[:63])+"g"), http.StatusBadRequest, `"fingerprint"`},
		{"400_unknown_field", "/claims/" + uuid.NewString(), `{"purchase_id":"` + pid + `","fingerprint":"` + f1 + `","x":1}`, http.StatusBadRequest, `"body"`},
		{"413_oversized", "/claims/" + uuid.NewString(), body(pid, strings.Repeat("f", 2000)), http.StatusRequestEntityTooLarge, `"Error"`},
	}
	for _, tt := range tests { // in order: the first rows build on each other
		rec := apitest.Do(h, "PUT", tt.path, tt.body, map[string]string{"Content-Type": "application/json"})
		if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.wantBody) {
			t.Errorf("%s: got %d %s, want %d with %s", tt.name, rec.Code, rec.Body, tt.want, tt.wantBody)
		}
	}
}

// TestClaimRouteStoreDown: a claim the store cannot answer is 503 with
// Retry-After, so cm-server tells the client to retry.
func TestClaimRouteStoreDown(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	st.err = errors.New("connection refused")
	h := newTestServer(t, st)
	rec := apitest.Do(h, "PUT", "/claims/"+uuid.NewString(), `{"purchase_id":"`+uuid.NewString()+`","fingerprint":"`+strings.Repeat("a", 64)+`"}`, nil)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("store down: got %d %s, want 503 with Retry-After", rec.Code, rec.Body)
	}
}

// BenchmarkMongoStoreClaim is the store's share of a keyed purchase: one
// new claim (an insert by _id with majority write concern).
func BenchmarkMongoStoreClaim(b *testing.B) {
	st := newTestStore(b)
	ctx := context.Background()
	pid := uuid.NewString()
	for b.Loop() {
		if _, err := st.Claim(ctx, claim{Key: uuid.NewString(), PurchaseID: pid, Fingerprint: "f", ClaimedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}
