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
// dependency never gets a healthy pod restarted. The body is the original
// shop's "Success".
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
	// Info is shown with every answer: facts about the configuration, such
	// as which transport events take. Set it before serving.
	Info map[string]string

	log     *slog.Logger
	checks  []Check
	timeout time.Duration
	ttl     time.Duration

	mu      sync.Mutex
	checked time.Time
	result  map[string]string
	ready   bool
}

// NewReadiness returns a Readiness over checks.
func NewReadiness(log *slog.Logger, checks ...Check) *Readiness {
	return &Readiness{log: log, checks: checks, timeout: 2 * time.Second, ttl: time.Second}
}

// detailer is an error that can say what is wrong without naming a host or a
// secret, such as a missing Kafka topic; readiness shows its Detail.
type detailer interface{ Detail() string }

// Ready reports whether every check passed, and each check's outcome. Causes
// are logged when a check's outcome changes, and shown only when they can say what
// is wrong without naming hosts (a detailer); otherwise "unavailable".
func (rd *Readiness) Ready(ctx context.Context) (bool, map[string]string) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.result != nil && time.Since(rd.checked) < rd.ttl {
		return rd.ready, rd.result
	}
	ctx, cancel := context.WithTimeout(ctx, rd.timeout)
	defer cancel()
	result, ready := make(map[string]string, len(rd.checks)), true
	for _, c := range rd.checks {
		result[c.Name] = "ok"
		if err := c.Ping(ctx); err != nil {
			result[c.Name], ready = "unavailable", false
			var d detailer
			if errors.As(err, &d) {
				result[c.Name] = d.Detail()
			}
			if rd.result == nil || rd.result[c.Name] != result[c.Name] {
				rd.log.Warn("dependency unavailable", "dependency", c.Name, "err", err)
			}
		}
	}
	if ready && !rd.ready && rd.result != nil {
		rd.log.Info("dependencies available again")
	}
	rd.checked, rd.result, rd.ready = time.Now(), result, ready
	return ready, result
}

type readyBody struct {
	Status  string            `json:"status"`
	Version string            `json:"version"`
	Checks  map[string]string `json:"checks"`
	Info    map[string]string `json:"info,omitempty"`
}

// HandleReadyz answers 200 when every dependency answers, else 503.
func HandleReadyz(rd *Readiness) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ready, checks := rd.Ready(r.Context())
		if !ready {
			Encode(w, http.StatusServiceUnavailable, readyBody{"not ready", buildinfo.Version, checks, rd.Info})
			return
		}
		Encode(w, http.StatusOK, readyBody{"ready", buildinfo.Version, checks, rd.Info})
	})
}
