package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// testMongoURI is MONGODB_URI, a MongoDB wire-protocol server that `make
// test` starts for these tests (an embedded FerretDB, hack/ferretdb) unless
// it is set. Each test gets its own database.
func testMongoURI(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs a MongoDB wire-protocol server (MONGODB_URI); skipped with -short")
	}
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		t.Fatal("MONGODB_URI is not set: run `make test` (it starts an embedded FerretDB for these tests) " +
			"or start one with `go run ./hack/ferretdb` and export the MONGODB_URI it prints; use -short to skip integration tests")
	}
	return uri
}

// newTestStore opens a store on a fresh database, dropped afterwards.
func newTestStore(t testing.TB) *mongoStore {
	t.Helper()
	uri := testMongoURI(t)
	db := "test_" + uuid.NewString()[:8]
	st, err := openMongo(mongoConfig{URI: uri, Database: db, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.EnsureIndexes(ctx); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.coll.Database().Drop(ctx)
		_ = st.Close(ctx)
	})
	return st
}

func mustPurchase(t testing.TB, id, user, price, ts string) purchase.Purchase {
	t.Helper()
	body := fmt.Sprintf(`{"username":%q,"userid":"u-%s","price":%q,"timestamp":%q}`, user, user, price, ts)
	p, err := purchase.Parse(id, []byte(body), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMongoStoreSaveIsIdempotent(t *testing.T) {
	t.Parallel()
	st := newTestStore(t)
	ctx := context.Background()
	p := mustPurchase(t, "p-1", "Zoë O'Brien", "1195.30", "2024-05-31T15:54:32.204Z")
	for i, wantDup := range []bool{false, true, true} {
		dup, err := saveOne(ctx, st, p)
		if err != nil || dup != wantDup {
			t.Fatalf("save %d: got duplicate=%v err=%v, want duplicate=%v", i+1, dup, err, wantDup)
		}
	}
	// A retry without a client timestamp is the same purchase.
	retry := p
	retry.Timestamp = retry.Timestamp.Add(time.Second)
	if dup, err := saveOne(ctx, st, retry); err != nil || !dup {
		t.Errorf("retry with another server time: got duplicate=%v err=%v, want a duplicate", dup, err)
	}
	conflict := p
	conflict.Price++
	if dup, err := saveOne(ctx, st, conflict); !errors.Is(err, errConflict) || dup {
		t.Errorf("same id, other price: got duplicate=%v err=%v, want errConflict", dup, err)
	}
	ps, _, err := st.List(ctx, "Zoë O'Brien", purchase.Page{Limit: 10})
	if err != nil || len(ps) != 1 || ps[0] != p {
		t.Fatalf("List: got %+v, %v; want exactly %+v", ps, err, p)
	}
}

func TestMongoStoreListPages(t *testing.T) {
	t.Parallel()
	st := newTestStore(t)
	ctx := context.Background()
	// Seven purchases, three sharing one timestamp, so pages split a tie.
	stamps := []string{"2024-01-01T00:00:00.001Z", "2024-01-02T00:00:00Z", "2024-01-02T00:00:00Z",
		"2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z", "2023-12-31T23:59:59.999Z", "2024-01-04T00:00:00Z"}
	for i, ts := range stamps {
		if _, err := saveOne(ctx, st, mustPurchase(t, fmt.Sprintf("id-%d", i), "ann", "1", ts)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := saveOne(ctx, st, mustPurchase(t, "other", "bob", "1", "2024-01-05T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	var got []string
	page := purchase.Page{Limit: 3}
	for range 5 {
		ps, next, err := st.List(ctx, "ann", page)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, p := range ps {
			got = append(got, p.ID)
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	want := []string{"id-6", "id-4", "id-3", "id-2", "id-1", "id-0", "id-5"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pages: got %v, want %v", got, want)
	}
	ps, next, err := st.List(ctx, "nobody", purchase.Page{Limit: 3})
	if err != nil || len(ps) != 0 || next != "" {
		t.Errorf("unknown user: got %v %q %v, want nothing", ps, next, err)
	}
	if _, _, err := st.List(ctx, "ann", purchase.Page{Limit: 3, Cursor: "bm90LWEtY3Vyc29y"}); err == nil {
		t.Error("forged cursor: got no error, want a 400 problem")
	}
}

// saveOne saves p alone: a batch of one.
func saveOne(ctx context.Context, st store, p purchase.Purchase) (bool, error) {
	r := st.SaveMany(ctx, []saveItem{{p: p}})[0]
	return r.duplicate, r.err
}
