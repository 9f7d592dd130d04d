package apitest

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// Running is a function started in the test process by StartRun.
type Running struct {
	Base    string // http://127.0.0.1:<PORT>
	Metrics string // http://127.0.0.1:<METRICS_PORT>

	cancel context.CancelFunc
	errc   chan error
	once   sync.Once
	err    error
}

// StartRun runs run with vars as its environment (PORT and METRICS_PORT on
// free ports unless vars has them) and its logs going to stdout, and
// returns once its /healthz answers, that is, once it listens. The test's
// cleanup stops it if Stop was not called.
func StartRun(t testing.TB, run server.RunFunc, vars map[string]string, stdout io.Writer) *Running {
	t.Helper()
	lookup := map[string]string{"PORT": FreePort(t), "METRICS_PORT": FreePort(t)}
	for k, v := range vars {
		lookup[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{Base: "http://127.0.0.1:" + lookup["PORT"], Metrics: "http://127.0.0.1:" + lookup["METRICS_PORT"],
		cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- run(ctx, nil, Lookup(lookup), stdout) }()
	t.Cleanup(func() { _ = r.Stop(t) })
	WaitReady(t, r.Base+"/healthz", 10*time.Second)
	return r
}

// Stop cancels run's context and returns what run returned; the test fails
// if run has not returned within 25 s.
func (r *Running) Stop(t testing.TB) error {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.errc:
		case <-time.After(25 * time.Second):
			t.Error("run did not return within 25 s of its context ending")
		}
	})
	return r.err
}
