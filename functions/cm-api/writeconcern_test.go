package main

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
)

// writeCommands are the commands that change the store; each must wait for
// a majority.
var writeCommands = []string{"insert", "update", "delete", "findAndModify", "createIndexes", "dropIndexes"}

// TestMongoStoreWritesWaitForAMajority watches the commands the driver sends
// for a store opened as cm-api opens it (openMongo, under the group commit
// start uses): creating the indexes, a purchase stored through the batcher,
// its redelivery, a conflicting one, a batch, look-ups and a list. Every
// command that writes carries writeConcern {w: "majority"}, so an
// acknowledged purchase is one a majority of the replica set has.
func TestMongoStoreWritesWaitForAMajority(t *testing.T) {
	t.Parallel()
	uri := testMongoURI(t)
	var mu sync.Mutex
	var sent []bson.Raw
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, slices.Clone(e.Command))
	}}
	db := "test_" + uuid.NewString()[:8]
	st, err := openMongo(mongoConfig{URI: uri, Database: db, Timeout: 5 * time.Second, Monitor: monitor})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.coll.Database().Drop(ctx)
		_ = st.Close(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := st.EnsureIndexes(ctx); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	b := newBatcher(st, testMetrics(), 10, time.Millisecond, 5*time.Second, 2)
	defer b.Close()
	p := mustPurchase(t, "wc-1", "ann", "1.00", "2024-05-31T15:54:32.204Z")
	for _, wantDup := range []bool{false, true} {
		if dup, err := b.Save(ctx, p); err != nil || dup != wantDup {
			t.Fatalf("Save: got duplicate=%v err=%v, want duplicate=%v", dup, err, wantDup)
		}
	}
	other := p
	other.Price++
	if _, err := b.Save(ctx, other); err == nil {
		t.Fatal("Save of a conflicting purchase: got no error, want errConflict")
	}
	done := make(chan error, 1)
	b.SaveAsync(ctx, mustPurchase(t, "wc-2", "ann", "2.00", "2024-05-31T15:54:33Z"), func(_ bool, err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatalf("SaveAsync: %v", err)
	}
	st.SaveMany(ctx, []saveItem{{p: mustPurchase(t, "wc-3", "bob", "3.00", "2024-05-31T15:54:34Z")}, {p: p}})
	// A key's claim is a write too: the new one and its repeat.
	c := claim{Key: "5b0a8c1e-4a7d-4f6e-9c1b-2d3e4f5a6b7c", PurchaseID: "01a2519f-d31b-78e3-9115-5c33dd83f7ea", Fingerprint: strings.Repeat("c", 64)}
	for range 2 {
		if _, err := st.Claim(ctx, c); err != nil {
			t.Fatalf("Claim: %v", err)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	writes := map[string]int{}
	for _, cmd := range sent {
		name := cmd.Index(0).Key()
		if !slices.Contains(writeCommands, name) {
			continue
		}
		writes[name]++
		if w, ok := cmd.Lookup("writeConcern", "w").StringValueOK(); !ok || w != "majority" {
			t.Errorf("%s command: got writeConcern %v, want {w: \"majority\"}: %s", name, cmd.Lookup("writeConcern"), cmd)
		}
	}
	// The purchases went out in insert commands, and the indexes were made:
	// the commands that were checked are the ones that matter.
	if writes["insert"] < 4 || writes["createIndexes"] == 0 {
		t.Errorf("write commands seen: got %v, want 4 or more inserts (purchases and a claim) and the index creation", writes)
	}
}
