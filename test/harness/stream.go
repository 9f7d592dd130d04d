package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Stream is a steady stream of purchases by one user, as well-behaved
// clients make them: each purchase has its own Idempotency-Key, and one that
// is not acknowledged (503, or no answer at all) is sent again with the same
// key until it is, as docs/api.md tells clients to. It remembers every
// acknowledged purchase, so a test can check that each is stored once.
type Stream struct {
	shop     *Shop
	Username string
	client   *http.Client

	stop    chan struct{}
	wg      sync.WaitGroup
	next    atomic.Int64
	Retries atomic.Int64 // attempts that were not acknowledged

	mu       sync.Mutex
	acked    map[string]string // purchase id -> price sent
	failures []string          // answers no retry can fix (4xx, 500)
	statuses map[string]int    // what the unacknowledged attempts got
}

// Stream limits: a purchase is retried for at most retryFor; a stream makes
// at most maxPurchases purchases.
const (
	retryFor     = 90 * time.Second
	maxPurchases = 5000
)

// StartStream starts workers that each buy, wait pace, and buy again until
// Stop. Prices are unique, so a stored purchase shows which request made it.
func StartStream(t testing.TB, shop *Shop, username string, workers int, pace time.Duration) *Stream {
	t.Helper()
	s := &Stream{shop: shop, Username: username, client: &http.Client{Timeout: 10 * time.Second},
		stop: make(chan struct{}), acked: map[string]string{}, statuses: map[string]int{}}
	for w := range workers {
		s.wg.Go(func() { s.work(w, pace) })
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *Stream) work(worker int, pace time.Duration) {
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		n := s.next.Add(1)
		if n > maxPurchases {
			return
		}
		price := fmt.Sprintf("%d.%02d", n/100, n%100)
		body := fmt.Sprintf(`{"username":%q,"userid":"w-%d","price":%q}`, s.Username, worker, price)
		s.buy(body, fmt.Sprintf("%s-%d", s.Username, n), price)
		time.Sleep(pace)
	}
}

// buy sends one purchase until it is acknowledged or retryFor has passed.
func (s *Stream) buy(body, key, price string) {
	deadline := time.Now().Add(retryFor)
	for backoff := 50 * time.Millisecond; time.Now().Before(deadline); backoff = min(2*backoff, time.Second) {
		status, id, err := s.attempt(body, key)
		switch {
		case status == http.StatusAccepted:
			s.mu.Lock()
			s.acked[id] = price
			s.mu.Unlock()
			return
		case err == nil && status != http.StatusServiceUnavailable && status != http.StatusConflict:
			// 409: an earlier attempt with the key is still in progress.
			s.fail(fmt.Sprintf("buy %s: got %d, want 202, 409 or 503", body, status))
			return
		}
		s.Retries.Add(1)
		s.mu.Lock()
		s.statuses[attemptOutcome(status, err)]++
		s.mu.Unlock()
		time.Sleep(backoff)
	}
	s.fail(fmt.Sprintf("buy %s with Idempotency-Key %s: not acknowledged within %v", body, key, retryFor))
}

func (s *Stream) attempt(body, key string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, s.shop.ServerURL+"/buy", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	var out BuyResponse
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err
	}
	if err := json.Unmarshal(raw, &out); err != nil || (resp.StatusCode == http.StatusAccepted && out.ID == "") {
		s.fail(fmt.Sprintf("buy %s: answer %d %q is not the JSON contract", body, resp.StatusCode, raw))
		return resp.StatusCode, "", errors.New("answer is not the JSON contract")
	}
	return resp.StatusCode, out.ID, nil
}

func attemptOutcome(status int, err error) string {
	if err != nil {
		return "no answer"
	}
	return fmt.Sprint(status)
}

func (s *Stream) fail(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, msg)
}

// Stop ends the stream after each worker's purchase in hand is acknowledged.
func (s *Stream) Stop() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
}

// Acked returns the acknowledged purchases: id -> price.
func (s *Stream) Acked() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.acked))
	for k, v := range s.acked {
		out[k] = v
	}
	return out
}

// WaitAcked waits until at least n purchases were acknowledged.
func (s *Stream) WaitAcked(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() string {
		if got := len(s.Acked()); got < n {
			return fmt.Sprintf("acknowledged purchases: got %d, want at least %d", got, n)
		}
		return ""
	})
}

// Check fails t if any answer was neither 202 nor worth a retry, and reports
// what the retried attempts got.
func (s *Stream) Check(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.failures {
		t.Error(f)
	}
	t.Logf("stream %s: %d purchases acknowledged, %d attempts retried %v", s.Username, len(s.acked), s.Retries.Load(), s.statuses)
}

// WaitStoredOnce waits until username's purchases, read page by page through
// getAllUserBuys, are exactly the acknowledged ones: each id once, with the
// price it was sent with, and nothing else.
func WaitStoredOnce(t testing.TB, shop *Shop, username string, acked map[string]string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() string {
		ps, err := shop.AllUserBuys(username, 100)
		if err != nil {
			return err.Error()
		}
		seen := map[string]int{}
		var extra, wrong []string
		for _, p := range ps {
			seen[p.ID]++
			price, ok := acked[p.ID]
			switch {
			case !ok:
				extra = append(extra, p.ID)
			case p.Price != price:
				wrong = append(wrong, fmt.Sprintf("%s: price %s, want %s", p.ID, p.Price, price))
			}
		}
		var dups []string
		for id, n := range seen {
			if n > 1 {
				dups = append(dups, fmt.Sprintf("%s x%d", id, n))
			}
		}
		if len(dups) > 0 || len(extra) > 0 || len(wrong) > 0 {
			return fmt.Sprintf("%s: duplicates %v, never acknowledged %v, wrong %v", username, dups, extra, wrong)
		}
		if len(seen) != len(acked) {
			return fmt.Sprintf("%s: got %d purchases stored, want the %d acknowledged", username, len(seen), len(acked))
		}
		return ""
	})
}
