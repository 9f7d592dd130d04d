package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

func TestStoredTimes_reads_the_first_stored_line_of_each_purchase(t *testing.T) {
	t.Parallel()
	log := `{"time":"2026-11-25T19:00:00.001Z","level":"INFO","msg":"consuming","function":"cm-api"}
{"time":"2026-11-25T19:00:00.002Z","level":"DEBUG","msg":"purchase stored","purchase_id":"a","duplicate":false}
not json
{"time":"2026-11-25T19:00:00.003Z","level":"DEBUG","msg":"purchase stored","purchase_id":"b","duplicate":false}
{"time":"2026-11-25T19:00:00.009Z","level":"DEBUG","msg":"purchase stored","purchase_id":"a","duplicate":true}
`
	at, err := storedTimes(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)
	want := map[string]time.Time{"a": base.Add(2 * time.Millisecond), "b": base.Add(3 * time.Millisecond)}
	if len(at) != len(want) {
		t.Fatalf("got %v, want %v", at, want)
	}
	for id, w := range want {
		if !at[id].Equal(w) {
			t.Errorf("purchase %s: stored at %v, want %v", id, at[id], w)
		}
	}
}

// TestCheckStored_names_the_missing_purchases: an acknowledged purchase that
// is not in the store fails the check, by id; all present passes.
func TestCheckStored_names_the_missing_purchases(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded FerretDB; -short skips it")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := stack.StartMongo(ctx, "127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	client, err := connectStore(m.URI())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	coll := purchases(client, "check_stored")
	if _, err := coll.InsertMany(ctx, []storedPurchase{{ID: "a", Username: "u"}, {ID: "b", Username: "u"}}); err != nil {
		t.Fatal(err)
	}
	if err := checkStored(ctx, coll, []string{"a", "b"}); err != nil {
		t.Errorf("all stored: got %v, want nil", err)
	}
	err = checkStored(ctx, coll, []string{"a", "c", "b", "d"})
	if err == nil || !strings.Contains(err.Error(), "2 of 4") || !strings.Contains(err.Error(), "c, d") {
		t.Errorf("c and d missing: got %v, want an error naming 2 of 4: c, d", err)
	}
}
