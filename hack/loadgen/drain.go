package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/scalable-shop/scalable-shop/hack/loadgen/load"
)

// drain times cm-api storing a backlog of -backlog purchases, consuming
// them from Kafka and receiving them over HTTP, against the reference: raw
// insertMany of as many documents into a fresh collection of the same store,
// with the same index and write concern.
func (b *bench) drain(ctx context.Context) error {
	n := b.cfg.Backlog
	before, err := b.insertReference(ctx, n, "insert_reference_before")
	if err != nil {
		return err
	}
	kafka, kafkaRows, err := b.drainKafka(ctx, n)
	if err != nil {
		return err
	}
	http, httpRows, err := b.drainHTTP(ctx, n)
	if err != nil {
		return err
	}
	// The reference runs before and after the drains, so that a change in
	// the background (or the store's files growing) hits both sides alike.
	after, err := b.insertReference(ctx, n, "insert_reference_after")
	if err != nil {
		return err
	}
	ref := (before + after) / 2
	refName := fmt.Sprintf("raw insertMany ×1000, %d docs, mean of before and after", n)
	b.report.add(row{Scenario: "drain", Figure: fmt.Sprintf("cm-api drains %d from Kafka (exec → all stored)", n),
		Value: kafka, Unit: "purchases/s", Ref: ref, RefName: refName, Target: target{MinRatio: 0.5}})
	b.report.add(kafkaRows...)
	b.report.add(row{Scenario: "drain", Figure: fmt.Sprintf("cm-api stores %d POSTed events, c=%d", n, b.cfg.DrainConc),
		Value: http, Unit: "purchases/s", Ref: ref, RefName: refName, Target: target{MinRatio: 0.5}})
	b.report.add(httpRows...)
	return nil
}

// insertReference inserts n documents with insertMany and returns the rate.
func (b *bench) insertReference(ctx context.Context, n int, key string) (float64, error) {
	coll := purchases(b.store, b.database(key))
	if _, err := coll.Indexes().CreateOne(ctx, listIndex()); err != nil {
		return 0, fmt.Errorf("create the reference index: %w", err)
	}
	defer func() { _ = coll.Database().Drop(context.Background()) }()
	prefix, base := b.name("ref"), time.Now()
	var done atomic.Int64
	b.logf("  reference: insertMany %d documents (batches of 1000, unordered, majority)", n)
	stop := b.every(key, func() string { return fmt.Sprintf("%d/%d inserted", done.Load(), n) })
	took, err := insertAll(ctx, coll, n, func(i int) storedPurchase {
		return newPurchase(prefix, i, b.cfg.Users, base.Add(time.Duration(i)*time.Millisecond)).document()
	}, &done)
	stop()
	if err != nil {
		return 0, err
	}
	rate := float64(n) / took.Seconds()
	b.report.detail(key, map[string]any{"documents": n, "elapsed_ns": took, "rate_per_s": rate})
	b.logf("  reference: %d documents in %.1f s: %.0f/s", n, took.Seconds(), rate)
	return rate, nil
}

// drainKafka fills a fresh topic with n purchase records while cm-api is
// not running, then starts cm-api in Kafka mode and times exec -> all n
// stored. It returns the rate and the rows that go with it.
func (b *bench) drainKafka(ctx context.Context, n int) (float64, []row, error) {
	topic := b.name("drain")
	if err := createTopics(ctx, b.brokers, topic, topic+"-dlq"); err != nil {
		return 0, nil, err
	}
	defer deleteTopics(b.brokers, topic, topic+"-dlq")
	if err := b.produceBacklog(ctx, topic, n); err != nil {
		return 0, nil, err
	}
	db := b.database("drain_kafka")
	defer func() { _ = b.store.Database(db).Drop(context.Background()) }()
	port, mport, err := freePorts()
	if err != nil {
		return 0, nil, err
	}
	b.logf("  starting cm-api (Kafka mode) on the backlog")
	c, err := b.procs.start("cm-api", b.bins["cm-api"], nil, append(b.apiEnv(port, db, topic, true), "METRICS_PORT="+mport))
	if err != nil {
		return 0, nil, err
	}
	api := fn{c, "http://127.0.0.1:" + port, "http://127.0.0.1:" + mport}
	defer api.stop(20 * time.Second)
	peak := sampleRSS(api.pid())
	first, all, err := b.waitStored(ctx, api, n)
	rss := peak.stop()
	if err != nil {
		return 0, nil, err
	}
	if err := checkCount(ctx, purchases(b.store, db), n); err != nil {
		return 0, nil, err
	}
	rate := float64(n) / all.Seconds()
	b.report.detail("drain_kafka", map[string]any{"backlog": n, "exec_to_first_stored_ns": first,
		"exec_to_all_stored_ns": all, "rate_per_s": rate, "peak_rss_mib": rss})
	b.logf("  Kafka mode: first stored %.2f s after exec, all %d after %.2f s: %.0f/s; peak RSS %.1f MiB",
		first.Seconds(), n, all.Seconds(), rate, rss)
	return rate, []row{
		{Scenario: "drain", Figure: "cm-api Kafka mode: exec → first purchase stored", Value: millis(first), Unit: "ms"},
		{Scenario: "drain", Figure: fmt.Sprintf("cm-api peak RSS draining %d from Kafka", n), Value: rss, Unit: "MiB",
			Target: target{Max: b.cfg.RSSBound}},
	}, nil
}

// produceBacklog writes n purchase records to topic.
func (b *bench) produceBacklog(ctx context.Context, topic string, n int) error {
	prefix, base := b.name("drain"), time.Now()
	var produced atomic.Int64
	b.logf("  producing a backlog of %d records", n)
	stop := b.every("backlog", func() string { return fmt.Sprintf("%d/%d produced", produced.Load(), n) })
	start := time.Now()
	err := produceAll(ctx, b.brokers, topic, n, func(i int) purchase {
		return newPurchase(prefix, i, b.cfg.Users, base.Add(time.Duration(i)*time.Millisecond))
	}, func(k int) { produced.Add(int64(k)) })
	stop()
	if err != nil {
		return err
	}
	b.logf("  backlog produced in %.1f s", time.Since(start).Seconds())
	return nil
}

// waitStored follows cm-api's count of written events (its metrics port's /metrics) every
// 20 ms until it reaches n, and returns the times from exec to the first
// and to the n-th. It does not ask the store: on the embedded FerretDB even
// a lookup by _id reads the whole collection, so polling the store would
// slow the very drain it times. checkCount checks the store afterwards.
func (b *bench) waitStored(ctx context.Context, api fn, n int) (first, all time.Duration, err error) {
	var stored atomic.Int64
	stop := b.every("drain_kafka", func() string {
		el := time.Since(api.started).Seconds()
		rss, _ := rssMiB(api.pid())
		return fmt.Sprintf("%d/%d stored, %.0f/s since exec, RSS %.1f MiB", stored.Load(), n,
			float64(stored.Load())/el, rss)
	})
	defer stop()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := api.started.Add(b.cfg.DrainTimeout)
	for {
		if api.exited() {
			return 0, 0, api.failure(fmt.Errorf("exited while draining: %v", api.err))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, 0, fmt.Errorf("%d of %d stored after %v", stored.Load(), n, b.cfg.DrainTimeout)
		}
		// Until cm-api listens, the request fails: nothing is stored yet.
		if k, err := storedEvents(ctx, client, api.metrics); err == nil {
			stored.Store(k)
		}
		el := time.Since(api.started)
		if stored.Load() > 0 && first == 0 {
			first = el
		}
		if stored.Load() >= int64(n) {
			return first, el, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkCount checks that coll holds exactly n documents.
func checkCount(ctx context.Context, coll *mongo.Collection, n int) error {
	count, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("count stored purchases: %w", err)
	}
	if count != int64(n) {
		return fmt.Errorf("%d purchases stored, want %d", count, n)
	}
	return nil
}

// drainHTTP starts cm-api without Kafka and POSTs n events to it, at most
// -drain-concurrency at once, as a KafkaSource would; it returns the rate of
// stored events (each 200 means stored).
func (b *bench) drainHTTP(ctx context.Context, n int) (float64, []row, error) {
	db := b.database("drain_http")
	defer func() { _ = b.store.Database(db).Drop(context.Background()) }()
	api, err := b.startAPI(ctx, db, b.name("drain-http"), false)
	if err != nil {
		return 0, nil, err
	}
	defer api.stop(20 * time.Second)
	prefix, base := b.name("drain-http"), time.Now()
	client := httpClient(b.cfg.DrainConc)
	op := func(ctx context.Context, i int, _ time.Time) error {
		p := newPurchase(prefix, i, b.cfg.Users, base.Add(time.Duration(i)*time.Millisecond))
		return p.deliver(ctx, client, api.url+"/")
	}
	peak := sampleRSS(api.pid())
	loop := load.Closed{Concurrency: b.cfg.DrainConc, Duration: b.cfg.DrainTimeout, MaxOps: n}
	s := b.phase(ctx, "drain_http", fmt.Sprintf("POST / %d events, %d at once", n, b.cfg.DrainConc), loop, op)
	rss := peak.stop()
	if s.OK != n {
		return 0, nil, fmt.Errorf("HTTP mode: %d of %d answered 200", s.OK, n)
	}
	if err := checkCount(ctx, purchases(b.store, db), n); err != nil {
		return 0, nil, fmt.Errorf("HTTP mode: %w", err)
	}
	return s.Rate, []row{{Scenario: "drain", Figure: fmt.Sprintf("cm-api peak RSS storing %d POSTed events", n), Value: rss,
		Unit: "MiB", Target: target{Max: b.cfg.RSSBound}}}, nil
}
