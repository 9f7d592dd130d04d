package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// FuzzAppendDocument holds the hand-built document to what the driver's
// reflection writes for the same purchase, byte for byte: the stored shape
// (field names, order, types, omitted empties) does not change.
func FuzzAppendDocument(f *testing.F) {
	f.Add("0193b0e6-7e1a-7b3c-9f00-0123456789ab", "joe", "005", int64(119530), int64(1717170872204), "", "", "", "")
	f.Add("p-1", "zoë", "u\x00", int64(0), int64(-1), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"ev-1", "https://example.com/src", "6f1c1a6e-4a54-4f3e-9d0b-5c6c7a0e2b1d")
	f.Fuzz(func(t *testing.T, id, user, userID string, price, millis int64, tp, evID, evSource, keyID string) {
		it := saveItem{p: purchase.Purchase{ID: id, Username: user, UserID: userID, Price: purchase.Money(price),
			Timestamp: time.UnixMilli(millis).UTC(), Origin: purchase.Origin{EventID: evID, EventSource: evSource},
			KeyID: keyID}, traceparent: tp}
		want, err := bson.Marshal(toDocument(it))
		if err != nil {
			t.Skip(err) // a string the driver refuses (a NUL in a key cannot happen: keys are fixed)
		}
		if got := appendDocument(nil, it); !bytes.Equal(got, want) {
			t.Errorf("appendDocument:\n%v\nbson.Marshal:\n%v", bson.Raw(got), bson.Raw(want))
		}
	})
}

// TestMongoStoreSaveManySplitsLargeBatches: a batch larger than one command
// may carry is written in several commands, and a write error in a later
// command still names its own purchase.
func TestMongoStoreSaveManySplitsLargeBatches(t *testing.T) {
	t.Parallel()
	st := newTestStore(t)
	ctx := context.Background()
	// Each purchase carries a 100 KB source: 200 of them are two commands.
	big := strings.Repeat("s", 100<<10)
	items := make([]saveItem, 200)
	for i := range items {
		p := testPurchase(i)
		p.Origin = purchase.Origin{EventID: "e", EventSource: big}
		items[i] = saveItem{p: p}
	}
	last := len(items) - 1
	if _, err := saveOne(ctx, st, items[last].p); err != nil {
		t.Fatal(err)
	}
	conflict := items[last].p
	conflict.Price++
	items[last].p = conflict
	for i, r := range st.SaveMany(ctx, items) {
		switch {
		case i == last && !strings.Contains(errString(r.err), errConflict.Error()):
			t.Errorf("purchase %d: got %v, want a conflict", i, r.err)
		case i != last && (r.err != nil || r.duplicate):
			t.Errorf("purchase %d: got duplicate %v, %v; want stored", i, r.duplicate, r.err)
		}
	}
	n, err := st.coll.CountDocuments(ctx, bson.D{})
	if err != nil || n != int64(len(items)) {
		t.Fatalf("stored %d purchases (%v), want %d", n, err, len(items))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// toDocument is the purchase as stored, the way the driver's reflection
// writes it: FuzzAppendDocument's oracle.
func toDocument(it saveItem) document {
	p := it.p
	return document{p.ID, p.Username, p.UserID, int64(p.Price), p.Timestamp, it.traceparent,
		p.Origin.EventID, p.Origin.EventSource, p.KeyID}
}
