package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/scalable-shop/scalable-shop/hack/loadgen/load"
)

// lookupTarget is what a look-up by one field may take: the store's index
// serves it, whatever the store's size.
const lookupTarget = 20 // ms

// timeLookups times, in the filled store, what cm-api does per keyed or
// redelivered purchase: the duplicate check of a redelivered purchase (POST
// / of a stored one, against the same find sent straight to the store) and
// the claim of a new key (PUT /claims/{key}, against the same insert sent
// straight to the store).
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
	claims := coll.Database().Collection("claims", options.Collection().SetWriteConcern(writeconcern.Majority()))
	insertClaim := func(ctx context.Context, _ int, _ time.Time) error {
		_, err := claims.InsertOne(ctx, bson.D{{Key: "_id", Value: uuid.NewString()}, {Key: "purchase_id", Value: stored.ID},
			{Key: "fingerprint", Value: "f"}, {Key: "claimed_at", Value: time.Now()}})
		return err
	}
	claim := func(ctx context.Context, _ int, _ time.Time) error {
		body := `{"purchase_id":"` + stored.ID + `","fingerprint":"f"}`
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, apiURL+"/claims/"+uuid.NewString(), strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		return expect(client, req, http.StatusCreated)
	}
	for _, l := range []struct {
		key, figure string
		ref, got    load.Op
	}{
		{"duplicate_check", "duplicate check: a stored purchase redelivered to cm-api (POST /)",
			findOne(bson.D{{Key: "_id", Value: stored.ID}}, nil), redeliver},
		{"key_claim", "claim of a new Idempotency-Key (PUT /claims)", insertClaim, claim},
	} {
		out := b.compare(ctx, l.key+"_raw_find", l.figure+fmt.Sprintf(", %d in the store", b.cfg.StoreSize),
			sliced(n, loop), l.ref, l.key, l.got)
		ref, got := out[0], out[1]
		b.report.add(row{Scenario: "page", Figure: fmt.Sprintf("%s, %d in the store, p99", l.figure, b.cfg.StoreSize) + losses(got.Summary),
			Value: millis(got.P99), Unit: "ms", Ref: millis(ref.P99), RefName: "the same command sent straight to the store", Target: target{Max: lookupTarget}})
	}
	return ctx.Err()
}
