package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/scalable-shop/scalable-shop/hack/loadgen/load"
)

// limiterClients is how many distinct clients the limiter scenario tracks:
// the size at which the old limiter (one map swept under one mutex) capped
// /buy at about 280 req/s.
const limiterClients = 100_000

// limiter measures POST /buy with the rate limiter on against the same
// cm-server with it off, both trusting X-Forwarded-For and both called by
// limiterClients distinct client addresses in turn. Nothing is refused:
// the figure is the limiter's cost. Before measuring, the limiter is filled with every
// client by bodies it passes on and the handler refuses with a cheap 400.
func (b *bench) limiter(ctx context.Context) error {
	topic := b.name("limiter")
	if err := createTopics(ctx, b.brokers, topic); err != nil {
		return err
	}
	defer deleteTopics(b.brokers, topic)
	xff := "FORWARDED_FOR_HOPS=1" // the loopback peer (the default trusted network) appends the address
	off, err := b.startServer(ctx, topic, "http://127.0.0.1:9", xff, "BUY_RATE_LIMIT=0")
	if err != nil {
		return err
	}
	defer off.stop(20 * time.Second)
	// A burst of 1000 refilled at 0.001/s refuses no one in this run, and no
	// client's bucket is full again (full ones are forgotten), so all
	// 100k stay tracked: the limiter's worst case.
	on, err := b.startServer(ctx, topic, "http://127.0.0.1:9", xff, "BUY_RATE_LIMIT=0.001", "BUY_RATE_BURST=1000")
	if err != nil {
		return err
	}
	defer on.stop(20 * time.Second)
	client := httpClient(b.cfg.Concurrency)
	c := b.cfg.Concurrency
	fill := load.Closed{Concurrency: c, Duration: 5 * time.Minute, MaxOps: limiterClients}
	if out := b.phase(ctx, "limiter_fill", fmt.Sprintf("%d distinct clients into the limiter", limiterClients), fill,
		b.refusedBuy(on.url, client)); out.Failed > 0 || out.Dropped > 0 {
		return fmt.Errorf("filling the limiter: %d failed, %d dropped", out.Failed, out.Dropped)
	}
	warm := load.Closed{Concurrency: c, Duration: 5 * time.Second, MaxOps: 1000}
	b.phase(ctx, "warmup_limiter_off", "warm-up", warm, b.postBuy(off.url, client, clientAddr))
	n := b.cfg.Slices
	loop := load.Closed{Concurrency: c, Duration: b.cfg.Duration / time.Duration(n), MaxOps: 50_000_000}
	out := b.compare(ctx, "buy_limiter_off", fmt.Sprintf("POST /buy, rate limiter off vs on, %d clients, %d in flight, %v each",
		limiterClients, c, b.cfg.Duration), sliced(n, loop), b.postBuy(off.url, client, clientAddr), "buy_limiter_on", b.postBuy(on.url, client, clientAddr))
	ref, got := out[0], out[1]
	refName := fmt.Sprintf("/buy limiter off, c=%d", c)
	b.report.add(row{Scenario: "limiter", Figure: fmt.Sprintf("/buy limiter on, %dk clients, c=%d throughput%s",
		limiterClients/1000, c, losses(got.Summary)), Value: got.Rate, Unit: "req/s", Ref: ref.Rate, RefName: refName,
		Target: target{MinRatio: 0.9}},
		row{Scenario: "limiter", Figure: "/buy limiter on p99", Value: millis(got.P99), Unit: "ms", Ref: millis(ref.P99), RefName: refName})
	return ctx.Err()
}

// clientAddr is the i-th client's public address, as an edge proxy would
// put it in X-Forwarded-For (11.0.0.0/8 is public).
func clientAddr(i int) string {
	i %= limiterClients
	return fmt.Sprintf("11.%d.%d.%d", i>>16, (i>>8)&0xff, i&0xff)
}

// refusedBuy posts, as client i, a purchase the handler refuses (400)
// after the limiter let it through: it makes the limiter track the client
// without a record on the topic.
func (b *bench) refusedBuy(url string, client *http.Client) load.Op {
	return func(ctx context.Context, i int, _ time.Time) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/buy", strings.NewReader("{}"))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", clientAddr(i))
		return expect(client, req, http.StatusBadRequest)
	}
}
