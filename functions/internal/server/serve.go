package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"
)

// Timeouts against slow clients; Write leaves room for a send to the broker.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 45 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Listen opens port on all interfaces.
func Listen(port string) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("", port))
	if err != nil {
		return nil, fmt.Errorf("listen on port %s: %w", port, err)
	}
	return ln, nil
}

// newServer is an http.Server for h with the timeouts and header limit that
// keep slow or greedy clients from holding connections.
func newServer(log *slog.Logger, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Serve serves h on ln until ctx is done, then stops accepting and waits up
// to drain for in-flight requests to finish.
func Serve(ctx context.Context, log *slog.Logger, ln net.Listener, h http.Handler, drain time.Duration) error {
	srv := newServer(log, h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests", "drain", drain.String())
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain requests: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Observer records each request. route is the mux pattern that served it,
// "" when none did; ctx is the request's, with its span.
type Observer interface {
	ObserveRequest(ctx context.Context, route, method string, status int, d time.Duration)
}

// Middleware logs every request at debug level, reports it to obs, and turns
// a panic into a 500 so one bad request cannot take the process down.
func Middleware(log *slog.Logger, obs Observer, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if rec.status == 0 {
					Fail(rec, r, log, errors.New("panic"))
				}
			}
			obs.ObserveRequest(r.Context(), r.Pattern, r.Method, rec.status, time.Since(start))
			// The access log; failures were logged once, by Fail.
			log.LogAttrs(r.Context(), slog.LevelDebug, "request", slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.Int("status", rec.status),
				slog.Duration("duration", time.Since(start)))
		}()
		h.ServeHTTP(rec, r)
	})
}
