package auth

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"time"
)

// throttle is the transport of the JWKS fetches. go-oidc's RemoteKeySet
// fetches the JWKS again for every token whose kid its cache lacks; it only
// merges fetches that overlap (github.com/coreos/go-oidc/v3 v3.21.0
// oidc/jwks.go, keysFromRemote). So a stream of forged kids would make one
// fetch per few requests. throttle lets one request reach the issuer per
// interval and answers the others with a copy of that answer, keys or
// failure: go-oidc then finds no new key (401) or no keys (503), as the
// issuer itself would have said a moment ago.
//
// It sits above tracking, so a replayed answer changes neither reachable
// nor lastFetch: the key cache's lifetime still counts from the issuer's
// last real answer.
type throttle struct {
	next     http.RoundTripper
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex // held during the fetch: callers meanwhile get its answer
	at   time.Time  // when the last request went to the issuer
	last *answer    // nil before the first
}

// answer is what the issuer said: a response, read whole as go-oidc reads
// it, or an error.
type answer struct {
	status string
	code   int
	header http.Header
	body   []byte
	err    error
}

func (t *throttle) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := t.now(); t.last == nil || now.Sub(t.at) >= t.interval {
		t.last, t.at = t.fetch(req), now
	}
	if t.last.err != nil {
		return nil, t.last.err
	}
	return &http.Response{Status: t.last.status, StatusCode: t.last.code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: t.last.header.Clone(),
		Body: io.NopCloser(bytes.NewReader(t.last.body)), ContentLength: int64(len(t.last.body)), Request: req}, nil
}

// fetch asks the issuer.
func (t *throttle) fetch(req *http.Request) *answer {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return &answer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return &answer{err: err}
	}
	return &answer{status: resp.Status, code: resp.StatusCode, header: resp.Header, body: body}
}
