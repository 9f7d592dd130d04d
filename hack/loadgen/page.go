package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scalable-shop/scalable-shop/hack/loadgen/load"
)

// pageLimit is the API's default page size.
const pageLimit = 100

// firstPage seeds users with -histories purchases straight into cm-api's
// collection, then times GET /getAllUserBuys/{user} (the first, default
// page) one request at a time, against the reference: the same query (filter,
// sort, limit+1) sent by the driver straight to the store.
func (b *bench) firstPage(ctx context.Context) error {
	topic := b.name("page")
	if err := createTopics(ctx, b.brokers, topic); err != nil {
		return err
	}
	defer deleteTopics(b.brokers, topic)
	db := b.database("page")
	defer func() { _ = b.store.Database(db).Drop(context.Background()) }()
	api, err := b.startAPI(ctx, db, topic, false) // ready = its index exists
	if err != nil {
		return err
	}
	defer api.stop(20 * time.Second)
	// A slow page is timed (up to the client's 30 s), not cut short with a
	// 504 after cm-server's default 5 s.
	srv, err := b.startServer(ctx, topic, api.url, "CM_API_TIMEOUT=30s")
	if err != nil {
		return err
	}
	defer srv.stop(20 * time.Second)
	coll := purchases(b.store, db)
	seeded := 0
	for _, h := range b.cfg.Histories {
		if err := b.seed(ctx, coll, b.historyUser(h), h); err != nil {
			return err
		}
		seeded += h
	}
	if err := b.fill(ctx, coll, b.cfg.StoreSize-seeded); err != nil {
		return err
	}
	client := httpClient(1)
	for _, h := range b.cfg.Histories {
		if err := b.timePage(ctx, client, srv.url, coll, h); err != nil {
			return err
		}
	}
	return b.timeLookups(ctx, client, api.url, coll)
}

// fill inserts n purchases of 10,000 other users, so that the pages and
// look-ups are timed in a store of -store-size purchases.
func (b *bench) fill(ctx context.Context, coll *mongo.Collection, n int) error {
	if n <= 0 {
		return nil
	}
	var done atomic.Int64
	b.logf("  filling the store with %d purchases of other users", n)
	stop := b.every("fill", func() string { return fmt.Sprintf("%d/%d inserted", done.Load(), n) })
	defer stop()
	took, err := insertAll(ctx, coll, n, func(i int) storedPurchase {
		return newPurchase(b.name("page-other"), i, 10_000, time.Now()).document()
	}, &done)
	if err == nil {
		b.report.add(row{Scenario: "page", Figure: fmt.Sprintf("filling the store: insertMany of 1,000, %d purchases", n),
			Value: float64(n) / took.Seconds(), Unit: "purchases/s"})
	}
	return err
}

func (b *bench) historyUser(h int) string { return fmt.Sprintf("%s-history-%d", b.name("page"), h) }

// seed inserts n purchases of user, one second apart, newest now.
func (b *bench) seed(ctx context.Context, coll *mongo.Collection, user string, n int) error {
	var done atomic.Int64
	b.logf("  seeding %s with %d purchases", user, n)
	stop := b.every("seed", func() string { return fmt.Sprintf("%d/%d inserted", done.Load(), n) })
	defer stop()
	now := time.Now()
	_, err := insertAll(ctx, coll, n, func(i int) storedPurchase {
		p := newPurchase(user, i, 1, now.Add(-time.Duration(i)*time.Second))
		p.Username = user
		return p.document()
	}, &done)
	return err
}

// timePage checks the first page of the user with history h once, then times
// PageRequests of them and as many raw finds.
func (b *bench) timePage(ctx context.Context, client *http.Client, base string, coll *mongo.Collection, h int) error {
	user := b.historyUser(h)
	u := base + "/getAllUserBuys/" + url.PathEscape(user)
	if err := checkPage(ctx, client, u, min(h, pageLimit)); err != nil {
		return err
	}
	get := func(ctx context.Context, _ int, _ time.Time) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		return expect(client, req, http.StatusOK)
	}
	opts := options.Find().SetSort(listKeys).SetLimit(pageLimit + 1)
	find := func(ctx context.Context, _ int, _ time.Time) error {
		cur, err := coll.Find(ctx, bson.D{{Key: "username", Value: user}}, opts)
		if err != nil {
			return err
		}
		var docs []storedPurchase
		return cur.All(ctx, &docs)
	}
	// On a store that scans for every query, 100k purchases take seconds a
	// page: the time bound keeps the phase short and says how many it got.
	n := b.cfg.Slices
	bound := max(2*b.cfg.Duration, 30*time.Second)
	loop := load.Closed{Concurrency: 1, Duration: bound / time.Duration(n), MaxOps: max(1, b.cfg.PageRequests/n)}
	key := fmt.Sprintf("page_%d", h)
	out := b.compare(ctx, key+"_raw_find", fmt.Sprintf("raw find vs GET /getAllUserBuys, %d purchases, %d times each",
		h, b.cfg.PageRequests), sliced(n, loop), find, key, get)
	ref, got := out[0], out[1]
	fig := fmt.Sprintf("getAllUserBuys first page, %d purchases of %d", h, b.cfg.StoreSize) + losses(got.Summary)
	if done := got.OK + got.Failed; done < loop.MaxOps*n {
		fig += fmt.Sprintf(" (%d of %d requests within %v)", done, loop.MaxOps*n, bound)
	}
	refName := "raw find, same query"
	b.report.add(
		row{Scenario: "page", Figure: fig + " p50", Value: millis(got.P50), Unit: "ms", Ref: millis(ref.P50), RefName: refName},
		row{Scenario: "page", Figure: fig + " p99", Value: millis(got.P99), Unit: "ms", Ref: millis(ref.P99), RefName: refName,
			Target: pageTarget(h)},
	)
	return ctx.Err()
}

// pageTarget is what a first page may take on make run's store (issue 15):
// a light user's in milliseconds at any store size. A user with 100,000
// purchases has no target there: FerretDB sorts them in memory, where
// MongoDB reads a page off the index.
func pageTarget(history int) target {
	switch {
	case history <= 10:
		return target{Max: 20}
	case history <= 1000:
		return target{Max: 150}
	default:
		return target{}
	}
}

// checkPage wants a first page of exactly want purchases.
func checkPage(ctx context.Context, client *http.Client, u string, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var page struct {
		Purchases []json.RawMessage `json:"purchases"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d, %v", u, resp.StatusCode, err)
	}
	if len(page.Purchases) != want {
		return fmt.Errorf("GET %s: %d purchases, want %d", u, len(page.Purchases), want)
	}
	return nil
}
