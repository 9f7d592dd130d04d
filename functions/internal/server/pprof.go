package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// checkPprofAddr accepts a host:port whose host is a loopback address (or
// "localhost"), so the profiler can never listen on the public port or
// where a pod's neighbours reach it: a CPU profile shows where the time
// goes, and a heap profile what the process holds.
func checkPprofAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("want host:port on loopback, e.g. 127.0.0.1:6060")
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address: the profiler listens on loopback only", host)
	}
	return nil
}

// pprofMux serves net/http/pprof's handlers, on a mux of its own: importing
// the package also registers them on http.DefaultServeMux, which no server
// here serves.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// servePprof serves the profiler on addr (DEBUG_PPROF_ADDR, checked to be
// loopback) until ctx ends. It is for measuring (make bench writes CPU
// profiles through it), off unless addr is set. A profile request takes as
// long as it profiles, so there is no write timeout.
func servePprof(ctx context.Context, log *slog.Logger, addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("DEBUG_PPROF_ADDR: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: pprofMux(), ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Warn("profiler stopped", "err", err)
		}
	}()
	log.Warn("profiler listening: for measuring only", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx) // a profile under way is cut off: nothing to keep
		_ = srv.Close()
		<-done
	}, nil
}
