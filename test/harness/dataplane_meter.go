package harness

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// sourceDestinations maps a KafkaSource on the real data plane to the URL
// its dispatcher delivers to: the meter in front of the subscriber.
var sourceDestinations sync.Map

// Destination is the subscriber's URL as the dispatcher sees it, which the
// dead letters name in knativeerrordest: sink itself for the stand-in, the
// meter in front of it on the real data plane.
func (s *KafkaSource) Destination(sink string) string {
	if d, ok := sourceDestinations.Load(s); ok {
		return d.(string)
	}
	return sink
}

// meter is a loopback reverse proxy in front of target that counts in src
// what the real dispatcher does, as the stand-in counts it: in front of the
// subscriber a 2xx is Delivered and a retryable failure (network error,
// >= 500, 404, 408, 409, 429) is Retried; in front of the dead-letter sink
// a 2xx is a DeadLetter (its ce-id and ce-knativeerrorcode) and anything
// else Lost. It forwards requests and answers unchanged, except that a
// target that cannot be reached is answered 502 (the dispatcher retries
// both alike).
func meter(t testing.TB, src *KafkaSource, target string, deadLetters bool) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: u.Scheme, Host: u.Host})
			r.Out.URL.Path, r.Out.URL.RawPath = u.Path, u.RawPath
			r.Out.Host = u.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			count(src, resp.Request.Header, resp.StatusCode, deadLetters)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, _ error) {
			count(src, r.Header, 0, deadLetters)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL + u.Path
}

func count(src *KafkaSource, h http.Header, status int, deadLetters bool) {
	ok := status >= 200 && status < 300
	switch {
	case deadLetters && ok:
		deadLetterAuth(src).add(h.Get("Authorization"))
		code, _ := strconv.Atoi(h.Get("Ce-Knativeerrorcode"))
		src.mu.Lock()
		src.deadLetters = append(src.deadLetters, DeadLetter{ID: h.Get("Ce-Id"), Status: code})
		src.mu.Unlock()
	case deadLetters:
		src.Lost.Add(1)
	case ok:
		src.Delivered.Add(1)
	case (attempt{status: status}).retryable():
		src.Retried.Add(1)
	}
}

// WaitGroupMembers waits until group has n members with partitions
// assigned and is stable: the dispatchers consume.
func WaitGroupMembers(t testing.TB, brokers []string, group string, n int) {
	t.Helper()
	admin := ClusterAdmin(t, brokers)
	defer admin.Close()
	Eventually(t, 90*time.Second, func() string {
		groups, err := admin.DescribeConsumerGroups([]string{group})
		if err != nil || len(groups) != 1 {
			return fmt.Sprintf("describe group %s: %v", group, err)
		}
		g := groups[0]
		if g.State != "Stable" || len(g.Members) != n {
			return fmt.Sprintf("group %s: state %s with %d members, want Stable with %d", group, g.State, len(g.Members), n)
		}
		return ""
	})
}

// authorizations is the Authorization headers the dead-letter sink took.
type authorizations struct {
	mu     sync.Mutex
	values []string
}

func (a *authorizations) add(v string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.values = append(a.values, v)
}

var deadLetterAuths sync.Map // *KafkaSource -> *authorizations

func deadLetterAuth(src *KafkaSource) *authorizations {
	a, _ := deadLetterAuths.LoadOrStore(src, &authorizations{})
	return a.(*authorizations)
}

// DeadLetterAuthorizations is the Authorization header of each dead letter
// the real dispatcher delivered, in order (real data plane only).
func (s *KafkaSource) DeadLetterAuthorizations() []string {
	a := deadLetterAuth(s)
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.values...)
}
