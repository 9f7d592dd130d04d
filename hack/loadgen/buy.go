package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/hack/loadgen/load"
)

// buy measures POST /buy against its reference, a raw sarama SyncProducer
// sending the same records with the same acks to a topic of its own: first
// in a closed loop at -concurrency, then in open loops at each -rates.
// cm-server runs alone (no cm-api consuming), as the producer does.
func (b *bench) buy(ctx context.Context) error {
	rawTopic, buyTopic := b.name("raw"), b.name("buy")
	if err := createTopics(ctx, b.brokers, rawTopic, buyTopic); err != nil {
		return err
	}
	defer deleteTopics(b.brokers, rawTopic, buyTopic)
	prod, err := sarama.NewSyncProducer(b.brokers, producerConfig())
	if err != nil {
		return fmt.Errorf("create the reference producer: %w", err)
	}
	defer prod.Close()
	srv, err := b.startServer(ctx, buyTopic, "http://127.0.0.1:9")
	if err != nil {
		return err
	}
	defer srv.stop(20 * time.Second)
	raw, buy := b.rawProduce(prod, rawTopic), b.postBuy(srv.url, httpClient(max(b.cfg.Concurrency, b.cfg.OpenWorkers)), nil)
	warm := load.Closed{Concurrency: b.cfg.Concurrency, Duration: 5 * time.Second, MaxOps: 1000}
	b.phase(ctx, "warmup_raw", "warm-up", warm, raw)
	b.phase(ctx, "warmup_buy", "warm-up", warm, buy)

	peak := sampleRSS(srv.pid())
	b.closedBuy(ctx, raw, buy)
	for _, rate := range b.cfg.Rates {
		b.openBuy(ctx, rate, raw, buy)
	}
	b.report.add(row{Scenario: "buy", Figure: "cm-server peak RSS under /buy load", Value: peak.stop(), Unit: "MiB",
		Target: target{Max: b.cfg.RSSBound}})
	return ctx.Err()
}

// rawProduce is the reference: one shared SyncProducer, like cm-server's.
func (b *bench) rawProduce(prod sarama.SyncProducer, topic string) load.Op {
	prefix := b.name("raw")
	return func(_ context.Context, i int, _ time.Time) error {
		m, err := newPurchase(prefix, i, b.cfg.Users, time.Now()).record(topic)
		if err != nil {
			return err
		}
		_, _, err = prod.SendMessage(m)
		return err
	}
}

// postBuy posts a purchase as a shopper does and wants a 202. With
// forwardedFor, the i-th request comes through a proxy from its address.
func (b *bench) postBuy(url string, client *http.Client, forwardedFor func(i int) string) load.Op {
	prefix := b.name("buy")
	return func(ctx context.Context, i int, _ time.Time) error {
		p := newPurchase(prefix, i, b.cfg.Users, time.Now())
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/buy", bytes.NewReader(p.body()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if forwardedFor != nil {
			req.Header.Set("X-Forwarded-For", forwardedFor(i))
		}
		return expect(client, req, http.StatusAccepted)
	}
}

func (b *bench) closedBuy(ctx context.Context, raw, buy load.Op) {
	c, n := b.cfg.Concurrency, b.cfg.Slices
	loop := load.Closed{Concurrency: c, Duration: b.cfg.Duration / time.Duration(n), MaxOps: 50_000_000}
	out := b.compare(ctx, "raw_closed", fmt.Sprintf("raw produce vs POST /buy, closed loop, %d in flight, %v each", c,
		b.cfg.Duration), sliced(n, loop), raw, "buy_closed", buy)
	ref, got := out[0], out[1]
	refName := fmt.Sprintf("raw sarama produce, c=%d", c)
	fig := fmt.Sprintf("/buy c=%d", c)
	b.report.add(
		row{Scenario: "buy", Figure: fig + " throughput" + losses(got.Summary), Value: got.Rate, Unit: "req/s",
			Ref: ref.Rate, RefName: refName, Target: target{MinRatio: 0.5}},
		row{Scenario: "buy", Figure: fig + " p50", Value: millis(got.P50), Unit: "ms", Ref: millis(ref.P50), RefName: refName},
		row{Scenario: "buy", Figure: fig + " p99", Value: millis(got.P99), Unit: "ms", Ref: millis(ref.P99), RefName: refName},
		row{Scenario: "buy", Figure: fig + " p99.9", Value: millis(got.P999), Unit: "ms", Ref: millis(ref.P999), RefName: refName},
	)
}

func (b *bench) openBuy(ctx context.Context, rate float64, raw, buy load.Op) {
	n := b.cfg.Slices
	loop := load.Open{Rate: rate, Duration: b.cfg.Duration / time.Duration(n), Workers: b.cfg.OpenWorkers}
	key := fmt.Sprintf("%.0f", rate)
	out := b.compare(ctx, "raw_open_"+key, fmt.Sprintf("raw produce vs POST /buy, open loop, %.0f/s, %v each", rate,
		b.cfg.Duration), sliced(n, loop), raw, "buy_open_"+key, buy)
	ref, got := out[0], out[1]
	refName := fmt.Sprintf("raw sarama produce, %.0f/s", rate)
	fig := fmt.Sprintf("/buy at %.0f/s (open loop)", rate)
	var p99 target
	if rate == 1000 {
		p99 = target{Max: 10}
	}
	b.report.add(
		row{Scenario: "buy", Figure: fig + " achieved" + losses(got.Summary), Value: got.Rate, Unit: "req/s", Ref: ref.Rate, RefName: refName},
		row{Scenario: "buy", Figure: fig + " p50", Value: millis(got.P50), Unit: "ms", Ref: millis(ref.P50), RefName: refName},
		row{Scenario: "buy", Figure: fig + " p99", Value: millis(got.P99), Unit: "ms", Ref: millis(ref.P99), RefName: refName, Target: p99},
		row{Scenario: "buy", Figure: fig + " p99.9", Value: millis(got.P999), Unit: "ms", Ref: millis(ref.P999), RefName: refName},
		// Part of the latencies above: how far the client itself fell behind
		// its schedule (client, functions, broker and store share the cores).
		row{Scenario: "buy", Figure: fig + " client start lag, max", Value: millis(got.lag), Unit: "ms",
			Ref: millis(ref.lag), RefName: refName},
	)
}
