package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// TestMongoStoreFindByKey runs the key look-up against the real wire
// protocol: a stored purchase comes back with its key and origin; an
// unknown key is not found.
func TestMongoStoreFindByKey(t *testing.T) {
	t.Parallel()
	st := newTestStore(t)
	ctx := context.Background()
	p := mustPurchase(t, "0b0c8f6e-5f6a-5a0e-8a5e-3b1f0d9e7c11", "keyed", "3.00", "2024-05-31T15:54:32.204Z")
	p.KeyID = "5d2b6f0e-2c1a-5b7e-9f3d-1a2b3c4d5e6f"
	p.Origin = purchase.Origin{EventID: "order-1", EventSource: "/client-a"}
	if _, err := st.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, found, err := st.FindByKey(ctx, p.KeyID)
	if err != nil || !found || got != p {
		t.Errorf("FindByKey: got %+v found=%v err=%v, want %+v", got, found, err, p)
	}
	if _, found, err := st.FindByKey(ctx, "9d2b6f0e-2c1a-5b7e-9f3d-1a2b3c4d5e6f"); err != nil || found {
		t.Errorf("FindByKey of an unknown key: got found=%v err=%v, want not found", found, err)
	}
	// Stored before key ids were kept: the key's id was the purchase id.
	old := mustPurchase(t, "7e4a1c2b-3d5f-5a6b-8c9d-0e1f2a3b4c5d", "keyed", "4.00", "2024-05-31T15:54:32.204Z")
	if _, err := st.Save(ctx, old); err != nil {
		t.Fatal(err)
	}
	if got, found, err := st.FindByKey(ctx, old.ID); err != nil || !found || got != old {
		t.Errorf("FindByKey of a purchase stored by its key id: got %+v found=%v err=%v, want %+v", got, found, err, old)
	}
}

// TestPurchaseByKeyRoute answers through the real mux: 200 with the
// purchase, 404 for an unknown key, 400 for a key id that is no UUID.
func TestPurchaseByKeyRoute(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	p := testPurchase(1)
	p.KeyID = "5d2b6f0e-2c1a-5b7e-9f3d-1a2b3c4d5e6f"
	if _, err := st.Save(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	h := newTestServer(t, st)
	for _, tt := range []struct {
		name, keyID string
		want        int
	}{
		{"key_200_stored", p.KeyID, http.StatusOK},
		{"key_404_unknown", "9d2b6f0e-2c1a-5b7e-9f3d-1a2b3c4d5e6f", http.StatusNotFound},
		{"key_400_not_a_uuid", "not-a-uuid", http.StatusBadRequest},
	} {
		if rec := apitest.Do(h, "GET", "/purchaseByKey/"+tt.keyID, "", nil); rec.Code != tt.want {
			t.Errorf("%s: got %d %s, want %d", tt.name, rec.Code, rec.Body, tt.want)
		}
	}
}

// TestFindByKeyIsIndexBacked checks on MongoDB that the key look-up that
// cm-server makes before each keyed purchase reads through the key_id and
// _id indexes, not the collection: it costs the same however many
// purchases are stored. FerretDB has no such plans; there it is skipped
// (set MONGODB_URI to a MongoDB).
func TestFindByKeyIsIndexBacked(t *testing.T) {
	t.Parallel()
	st, ctx := newMongoOnlyStore(t)
	var items []saveItem
	for i := range 300 {
		p := testPurchase(i)
		p.KeyID = fmt.Sprintf("00000000-0000-5000-8000-%012d", i)
		items = append(items, saveItem{p: p})
	}
	for i, r := range st.SaveMany(ctx, items) {
		if r.err != nil {
			t.Fatalf("save %s: %v", items[i].p.ID, r.err)
		}
	}
	for i, filter := range keyFilters(items[150].p.KeyID) {
		out := explainFind(ctx, t, st, bson.D{{Key: "filter", Value: filter}, {Key: "limit", Value: 1}})
		stages, indexes := planStages(lookup(out, "queryPlanner", "winningPlan"))
		want := []string{keyIndexName, "_id_"}[i]
		if slices.Contains(stages, "COLLSCAN") || !slices.Contains(indexes, want) && !slices.Contains(stages, "IDHACK") && !slices.Contains(stages, "EXPRESS_IXSCAN") {
			t.Errorf("look-up %v: winning plan has stages %v on indexes %v; want an index scan on %s, no COLLSCAN", filter, stages, indexes, want)
		}
		if docs := asInt(lookup(out, "executionStats", "totalDocsExamined")); docs > 1 {
			t.Errorf("look-up %v: examined %d documents; want at most 1", filter, docs)
		}
	}
}
