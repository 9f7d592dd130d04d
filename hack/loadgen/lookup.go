package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/scalable-shop/scalable-shop/hack/loadgen/load"
)

// lookupTarget is what a look-up by one field may take: the store's index
// serves it, whatever the store's size.
const lookupTarget = 20 // ms

// timeLookups times, in the filled store, the two writes' look-ups cm-api
// makes: the duplicate check of a redelivered purchase (POST / of a stored
// one) and the Idempotency-Key look-up of a key never used (GET
// /purchaseByKey), each against the same find sent straight to the store.
func (b *bench) timeLookups(ctx context.Context, client *http.Client, apiURL string, coll *mongo.Collection) error {
	stored := newPurchase(b.name("page-redelivered"), 0, 1, time.Now())
	if err := stored.deliver(ctx, client, apiURL+"/"); err != nil {
		return fmt.Errorf("store the purchase to redeliver: %w", err)
	}
	n := b.cfg.Slices
	loop := load.Closed{Concurrency: 1, Duration: max(2*b.cfg.Duration, 30*time.Second) / time.Duration(n),
		MaxOps: max(1, b.cfg.PageRequests/n)}
	findOne := func(filter bson.D, want error) load.Op {
		return func(ctx context.Context, _ int, _ time.Time) error {
			if err := coll.FindOne(ctx, filter).Err(); !errors.Is(err, want) {
				return fmt.Errorf("find %v: got %v, want %v", filter, err, want)
			}
			return nil
		}
	}
	redeliver := func(ctx context.Context, _ int, _ time.Time) error { return stored.deliver(ctx, client, apiURL+"/") }
	byKey := func(ctx context.Context, _ int, _ time.Time) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL+"/purchaseByKey/"+uuid.NewString(), nil)
		if err != nil {
			return err
		}
		return expect(client, req, http.StatusNotFound)
	}
	for _, l := range []struct {
		key, figure string
		ref, got    load.Op
	}{
		{"duplicate_check", "duplicate check: a stored purchase redelivered to cm-api (POST /)",
			findOne(bson.D{{Key: "_id", Value: stored.ID}}, nil), redeliver},
		{"key_lookup", "Idempotency-Key look-up of an unknown key (GET /purchaseByKey)",
			findOne(bson.D{{Key: "key_id", Value: uuid.NewString()}}, mongo.ErrNoDocuments), byKey},
	} {
		out := b.compare(ctx, l.key+"_raw_find", l.figure+fmt.Sprintf(", %d in the store", b.cfg.StoreSize),
			sliced(n, loop), l.ref, l.key, l.got)
		ref, got := out[0], out[1]
		b.report.add(row{Scenario: "page", Figure: fmt.Sprintf("%s, %d in the store, p99", l.figure, b.cfg.StoreSize) + losses(got.Summary),
			Value: millis(got.P99), Unit: "ms", Ref: millis(ref.P99), RefName: "raw find by the same field", Target: target{Max: lookupTarget}})
	}
	return ctx.Err()
}
