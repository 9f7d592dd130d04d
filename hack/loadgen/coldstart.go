package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/scalable-shop/scalable-shop/hack/loadgen/load"
)

// coldStart execs each function ColdRuns times and times exec -> the first
// 200 from /healthz; after the last start it waits for readiness, lets the
// process settle and reads its idle RSS. cm-api runs in Kafka mode (its
// consumer group joined), the bigger of its two shapes.
func (b *bench) coldStart(ctx context.Context) error {
	topic := b.name("cold")
	if err := createTopics(ctx, b.brokers, topic, topic+"-dlq"); err != nil {
		return err
	}
	defer deleteTopics(b.brokers, topic, topic+"-dlq")
	for _, name := range functions {
		times, idle, err := b.coldRuns(ctx, name, topic)
		if err != nil {
			return err
		}
		s := load.Summarize(times, 0, 0, 0)
		b.report.detail("cold_start_"+name, map[string]any{"runs_ns": times, "idle_rss_mib": idle})
		b.logf("  %s: exec -> first 200 p50 %.1f ms, max %.1f ms; idle RSS %.1f MiB", name, millis(s.P50), millis(s.Max), idle)
		b.report.add(
			row{Scenario: "cold", Figure: fmt.Sprintf("%s exec → first 200, p50 of %d", name, len(times)),
				Value: millis(s.P50), Unit: "ms", Target: target{Max: 50}},
			row{Scenario: "cold", Figure: fmt.Sprintf("%s exec → first 200, max of %d", name, len(times)),
				Value: millis(s.Max), Unit: "ms", Target: target{Max: 50}},
			row{Scenario: "cold", Figure: name + " idle RSS (ready, 2 s after start)", Value: idle, Unit: "MiB", Target: target{Max: 30}},
		)
	}
	return nil
}

// coldRuns starts name ColdRuns times; it returns the start times and the
// idle RSS of the last start.
func (b *bench) coldRuns(ctx context.Context, name, topic string) ([]time.Duration, float64, error) {
	var times []time.Duration
	var idle float64
	for i := range b.cfg.ColdRuns {
		port, mport, err := freePorts()
		if err != nil {
			return nil, 0, err
		}
		env := b.serverEnv(port, topic, "http://127.0.0.1:9")
		if name == "cm-api" {
			env = b.apiEnv(port, b.database("cold"), topic, true)
		}
		c, err := b.procs.start(name, b.bins[name], nil, append(env, "METRICS_PORT="+mport))
		if err != nil {
			return nil, 0, err
		}
		d, err := firstOK(ctx, c, "127.0.0.1:"+port, 10*time.Second)
		if err == nil && i == b.cfg.ColdRuns-1 {
			if err = waitReady(ctx, fn{c, "http://127.0.0.1:" + port, "http://127.0.0.1:" + mport}, 60*time.Second); err == nil {
				time.Sleep(2 * time.Second)
				idle, err = rssMiB(c.pid())
			}
		}
		c.stop(10 * time.Second)
		if err != nil {
			return nil, 0, err
		}
		times = append(times, d)
	}
	return times, idle, nil
}

// firstOK polls GET /healthz on addr in a tight loop (a fresh connection
// each time, 200 µs apart) and returns the time from exec to the first 200.
func firstOK(ctx context.Context, c *child, addr string, timeout time.Duration) (time.Duration, error) {
	req := []byte("GET /healthz HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n\r\n")
	deadline := c.started.Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if c.exited() {
			return 0, c.failure(fmt.Errorf("exited during start-up: %v", c.err))
		}
		if healthy(addr, req) {
			return time.Since(c.started), nil
		}
		time.Sleep(200 * time.Microsecond)
	}
	return 0, c.failure(fmt.Errorf("no 200 from /healthz within %v", timeout))
}

// healthy sends one request and reports whether the answer is a 200.
func healthy(addr string, req []byte) bool {
	conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write(req); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "HTTP/1.1 200 ") || strings.HasPrefix(line, "HTTP/1.0 200 "))
}
