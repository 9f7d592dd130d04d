package auth

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"time"
)

// throttle is the transport of the JWKS fetches. go-oidc fetches the JWKS
// for every token whose kid its cache lacks, merging only overlapping
// fetches (go-oidc v3.21.0 oidc/jwks.go, keysFromRemote), so forged kids
// could make a fetch every few requests. throttle sends one request per
// interval to the issuer and answers the others with a copy of its answer,
// keys or failure, as the issuer itself said a moment ago.
//
// Only real answers update the Verifier's unreachable and lastFetch, so the
// key cache's lifetime counts from the issuer's last answer.
type throttle struct {
	next     http.RoundTripper
	interval time.Duration
	v        *Verifier

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
	if now := t.v.now(); t.last == nil || now.Sub(t.at) >= t.interval {
		t.last, t.at = t.fetch(req), now
	}
	if t.last.err != nil {
		return nil, t.last.err
	}
	return &http.Response{Status: t.last.status, StatusCode: t.last.code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: t.last.header.Clone(),
		Body: io.NopCloser(bytes.NewReader(t.last.body)), ContentLength: int64(len(t.last.body)), Request: req}, nil
}

// fetch asks the issuer and records whether it answered, so a failed
// signature check can tell "no key fits" (401) from "no keys" (503).
func (t *throttle) fetch(req *http.Request) *answer {
	resp, err := t.next.RoundTrip(req)
	ok := err == nil && resp.StatusCode == http.StatusOK
	t.v.unreachable.Store(!ok)
	if ok {
		t.v.lastFetch.Store(t.v.now().UnixNano())
	}
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
