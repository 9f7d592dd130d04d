package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/buildinfo"
)

// HandleHealthz is liveness: it checks nothing outside the process, so a slow
// dependency never gets a healthy pod restarted.
func HandleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Version", buildinfo.Version)
		_, _ = w.Write([]byte("Success"))
	})
}

// Check is one readiness probe of a dependency.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Readiness runs checks with a short timeout and caches the answer briefly,
// so a burst of probes does not become a burst of pings.
type Readiness struct {
	// Info is shown on the metrics port's /readyz, e.g. which transport
	// events take. Set it before serving.
	Info map[string]string

	log     *slog.Logger
	checks  []Check
	timeout time.Duration
	ttl     time.Duration

	mu      sync.Mutex
	checked time.Time
	last    *report
}

// report is the outcome of one round of checks.
type report struct {
	ready  bool
	checks map[string]string // "ok", a detailer's Detail, or "unavailable"
	errors map[string]string // each failed check's error text
}

// NewReadiness returns a Readiness over checks.
func NewReadiness(log *slog.Logger, checks ...Check) *Readiness {
	return &Readiness{log: log, checks: checks, timeout: 2 * time.Second, ttl: time.Second}
}

// detailer is an error that can say what is wrong without naming a host or a
// secret, such as a missing Kafka topic.
type detailer interface{ Detail() string }

// Ready reports whether every check passed.
func (rd *Readiness) Ready(ctx context.Context) bool { return rd.report(ctx).ready }

// report runs the checks, or returns the last outcome while it is fresh. A
// failure is logged when a check's state changes, not on every probe.
func (rd *Readiness) report(ctx context.Context) report {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.last != nil && time.Since(rd.checked) < rd.ttl {
		return *rd.last
	}
	ctx, cancel := context.WithTimeout(ctx, rd.timeout)
	defer cancel()
	r := report{ready: true, checks: make(map[string]string, len(rd.checks)), errors: map[string]string{}}
	for _, c := range rd.checks {
		r.checks[c.Name] = "ok"
		if err := c.Ping(ctx); err != nil {
			r.checks[c.Name], r.ready, r.errors[c.Name] = "unavailable", false, err.Error()
			var d detailer
			if errors.As(err, &d) {
				r.checks[c.Name] = d.Detail()
			}
			if rd.last == nil || rd.last.checks[c.Name] != r.checks[c.Name] {
				rd.log.Warn("dependency unavailable", "dependency", c.Name, "err", err)
			}
		}
	}
	if r.ready && rd.last != nil && !rd.last.ready {
		rd.log.Info("dependencies available again")
	}
	rd.checked, rd.last = time.Now(), &r
	return r
}

// status is the readiness answer's status word and HTTP status.
func (r report) status() (string, int) {
	if r.ready {
		return "ready", http.StatusOK
	}
	return "not ready", http.StatusServiceUnavailable
}

// readyBody is the metrics port's /readyz answer.
type readyBody struct {
	Status  string            `json:"status"`
	Version string            `json:"version"`
	Checks  map[string]string `json:"checks"`
	Errors  map[string]string `json:"errors,omitempty"`
	Info    map[string]string `json:"info,omitempty"`
}

// HandleReadyz is readiness on the public port: 200 {"status":"ready"} or 503
// {"status":"not ready"}, naming no dependency and no error, because the
// Knative route exposes it to anyone. The causes are on the metrics port.
func HandleReadyz(rd *Readiness) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, code := rd.report(r.Context()).status()
		Encode(w, code, map[string]string{"status": status})
	})
}

// handleReadyDetails is readiness for operators, on the metrics port: the
// status, the version, each check's state and error text, and Info.
func handleReadyDetails(rd *Readiness) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := rd.report(r.Context())
		status, code := rep.status()
		Encode(w, code, readyBody{status, buildinfo.Version, rep.checks, rep.errors, rd.Info})
	})
}
