package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// makeRun measures the shop as `make run` starts it (hack/devstack: the
// embedded Kafka and FerretDB inside devstack's process, both functions as
// its children, on make run's ports 8080 and 8081) under issue 16's load:
// POST /buy at -cpu-concurrency in a closed loop, against the bare handler
// in alternating slices. It reports the throughput against the bare
// handler's and the CPU time per purchase of cm-server, cm-api and the
// dev stack's Kafka and store (devstack's process and its other
// descendants, such as the store's PostgreSQL).
func (b *bench) makeRun(ctx context.Context) error {
	for _, port := range []string{"8080", "8081", "9092", "27017"} {
		ln, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			return fmt.Errorf("port %s is in use (is make run running?): %w", port, err)
		}
		ln.Close()
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	bin := filepath.Join(b.work, "devstack")
	b.logf("building devstack")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./hack/devstack")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build devstack: %w\n%s", err, out)
	}
	env := []string{"DEVSTACK_DATA_DIR=" + filepath.Join(b.work, "devstack-data"), "LOG_LEVEL=info"}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS", "GOPROXY"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	stack, err := b.procs.startIn(root, "devstack", bin, nil, env)
	if err != nil {
		return err
	}
	defer stack.stop(40 * time.Second)
	// make run's ports, and the functions' default METRICS_PORTs.
	srv, api := fn{stack, "http://127.0.0.1:8080", "http://127.0.0.1:9464"}, fn{stack, "http://127.0.0.1:8081", "http://127.0.0.1:9465"}
	b.logf("  waiting for make run's stack (it builds both functions first)")
	if err := waitReady(ctx, srv, 5*time.Minute); err != nil {
		return err
	}
	if err := waitReady(ctx, api, time.Minute); err != nil {
		return err
	}
	kids, err := childrenOf(stack.pid())
	if err != nil {
		return err
	}
	bare, bareURL, err := startSelf(ctx, b.procs, "bare", bareURLPrefix, serveBareCmd)
	if err != nil {
		return err
	}
	defer bare.stop(5 * time.Second)
	client := httpClient(b.cfg.CPUConcurrency)
	bareOp, buy := b.postBuy(bareURL, client, nil), b.postBuy(srv.url, client, nil)
	warm := b.cpuWarmUp(ctx, "makerun", bareOp, buy)
	before, err := b.caughtUp(ctx, api, int64(warm.OK), time.Minute)
	if err != nil {
		return err
	}
	var stored int64
	procs := map[string]*child{"bare": bare, "devstack": stack}
	readers := map[string]cpuReader{"bare": pidCPU(bare.pid()), "cm-server": pidCPU(kids["cm-server"]),
		"cm-api": pidCPU(kids["cm-api"]), "devstack": treeCPU(stack.pid(), kids["cm-server"], kids["cm-api"])}
	ref, got, used, err := b.cpuCompareIn(ctx, "makerun", "bare handler vs POST /buy under make run", bareOp, buy, procs, readers,
		b.storedSince(ctx, api, before, &stored))
	if err != nil {
		return err
	}
	c := b.cfg.CPUConcurrency
	refName := fmt.Sprintf("bare handler, c=%d", c)
	bareUS := perOp(used["bare"], int64(ref.OK))
	b.report.add(
		// The target is judged under wrk, issue 16's method (makeRunWrk):
		// loadgen's client flatters the ratio.
		row{Scenario: "makerun", Figure: fmt.Sprintf("/buy end to end under make run, c=%d throughput, loadgen's client%s", c, losses(got.Summary)),
			Value: got.Rate, Unit: "req/s", Ref: ref.Rate, RefName: refName},
		row{Scenario: "makerun", Figure: "make run: cm-server CPU per /buy", Value: perOp(used["cm-server"], int64(got.OK)), Unit: "µs",
			Ref: bareUS, RefName: refName},
		row{Scenario: "makerun", Figure: "make run: cm-api CPU per stored purchase", Value: perOp(used["cm-api"], stored), Unit: "µs",
			Ref: bareUS, RefName: refName},
		row{Scenario: "makerun", Figure: "make run: embedded Kafka and store (devstack and its other children) CPU per purchase",
			Value: perOp(used["devstack"], int64(got.OK)), Unit: "µs", Ref: bareUS, RefName: refName},
	)
	b.cpuDetail("makerun", used, map[string]int64{"bare": int64(ref.OK), "cm-server": int64(got.OK), "cm-api": stored,
		"devstack": int64(got.OK)})
	return b.makeRunWrk(ctx, api, srv.url, bareURL, readers)
}

// makeRunWrk measures make run's stack as issue 16 did: wrk -t2 -c32
// posting /buy for 100 rotating users, against the bare handler, in two
// rounds of alternating windows (together -duration for each side). wrk's
// client costs about half of loadgen's per request, so the bare handler
// reaches a higher rate under it and the ratio is lower than the loadgen
// one above (docs/performance.md, "CPU per purchase"). Without wrk on PATH
// it says so and reports nothing.
func (b *bench) makeRunWrk(ctx context.Context, api fn, srvURL, bareURL string, readers map[string]cpuReader) error {
	w, err := newWrkRunner(b.work, b.name("wrk"), b.cfg.CPUConcurrency)
	if errors.Is(err, errWrkMissing) {
		b.logf("  %v: issue 16's own method skipped", err)
		b.report.Env["wrk"] = "not installed"
		return nil
	}
	if err != nil {
		return err
	}
	b.report.Env["wrk"] = w.bin
	d := max(time.Second, b.cfg.Duration/2)
	b.logf("  issue 16's method: wrk -t2 -c%d, 2 rounds of %v windows", b.cfg.CPUConcurrency, d)
	for _, u := range []string{bareURL, srvURL} { // warm-up
		if _, err := w.run(ctx, u, 3*time.Second); err != nil {
			return err
		}
	}
	metrics := &http.Client{Timeout: 5 * time.Second}
	used := map[string]time.Duration{}
	// window runs wrk against url for d and adds what the processes of
	// readers used, up to the end of settle when there is one, to used.
	window := func(url string, readers map[string]cpuReader, settle func(wrkResult) error) (wrkResult, error) {
		m, err := meterCPU(readers)
		if err != nil {
			return wrkResult{}, err
		}
		res, err := w.run(ctx, url, d)
		if err == nil && settle != nil {
			err = settle(res)
		}
		if err == nil {
			err = addUsed(m, used)
		}
		return res, err
	}
	bareReaders, shopReaders := map[string]cpuReader{"bare": readers["bare"]}, maps.Clone(readers)
	delete(shopReaders, "bare")
	var bare, shop wrkResult
	var stored int64
	for round := range 2 {
		b1, err := window(bareURL, bareReaders, nil)
		if err != nil {
			return err
		}
		// The shop's window ends when cm-api has stored every purchase
		// acknowledged in it.
		before, err := storedEvents(ctx, metrics, api.metrics)
		if err != nil {
			return err
		}
		s1, err := window(srvURL, shopReaders, func(res wrkResult) error {
			n, err := b.caughtUp(ctx, api, before+res.Requests, time.Minute)
			stored += n - before
			return err
		})
		if err != nil {
			return err
		}
		bare.Requests, bare.Rate = bare.Requests+b1.Requests, bare.Rate+b1.Rate/2
		shop.Requests, shop.Rate = shop.Requests+s1.Requests, shop.Rate+s1.Rate/2
		b.logf("  round %d: bare handler %.0f/s, shop %.0f/s", round+1, b1.Rate, s1.Rate)
	}
	refName := fmt.Sprintf("bare handler, wrk -c%d", b.cfg.CPUConcurrency)
	bareUS := perOp(used["bare"], bare.Requests)
	b.report.add(
		row{Scenario: "makerun", Figure: fmt.Sprintf("/buy end to end under make run, wrk -t2 -c%d (issue 16's method) throughput", b.cfg.CPUConcurrency),
			Value: shop.Rate, Unit: "req/s", Ref: bare.Rate, RefName: refName, Target: target{MinRatio: 0.2}},
		row{Scenario: "makerun", Figure: "make run, wrk: cm-server CPU per /buy", Value: perOp(used["cm-server"], shop.Requests), Unit: "µs",
			Ref: bareUS, RefName: refName},
		row{Scenario: "makerun", Figure: "make run, wrk: cm-api CPU per stored purchase", Value: perOp(used["cm-api"], stored), Unit: "µs",
			Ref: bareUS, RefName: refName},
		row{Scenario: "makerun", Figure: "make run, wrk: embedded Kafka and store CPU per purchase",
			Value: perOp(used["devstack"], shop.Requests), Unit: "µs", Ref: bareUS, RefName: refName},
	)
	b.cpuDetail("makerun_wrk", used, map[string]int64{"bare": bare.Requests, "cm-server": shop.Requests, "cm-api": stored,
		"devstack": shop.Requests})
	return nil
}

// addUsed adds what m measured since it started to used.
func addUsed(m *cpuMeter, used map[string]time.Duration) error {
	got, err := m.used()
	if err != nil {
		return err
	}
	for name, d := range got {
		used[name] += d
	}
	return nil
}

// childrenOf finds the processes whose parent is pid, by command name.
func childrenOf(pid int) (map[string]int, error) {
	procs, err := processTable()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, c := range procs[pid].children {
		out[procs[c].name] = c
	}
	if out["cm-server"] == 0 || out["cm-api"] == 0 {
		return nil, fmt.Errorf("devstack (pid %d) has no cm-server and cm-api children (%v): is another make run serving its ports?", pid, out)
	}
	return out, nil
}
