package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestCMServerDrainsOnSIGTERM sends cm-server SIGTERM while concurrent
// buyers keep it busy and one request is still being received. Precisely:
//   - the request under way at SIGTERM (headers in, body half sent) is
//     finished after SIGTERM and answered 202: the drain serves it;
//   - every answer any buyer got is a 202 (the broker is healthy, so there
//     is no reason for anything else); buyers whose request was not taken
//     get a connection error (refused, or closed before it was read), fine;
//   - the purchases cm-server logged as sent are exactly the ones buyers got
//     a 202 for: no request it handled lost its answer to a reset;
//   - cm-server exits 0, and every 202'd purchase is stored exactly once.
func TestCMServerDrainsOnSIGTERM(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	server := shop.StartServer("", nil)
	serverURL := shop.ServerURL

	slow := startHalfSentBuy(t, serverURL)
	load := startBuyers(serverURL, 8)
	load.waitAcked(t, 100)

	exited := make(chan error, 1)
	go func() { exited <- server.Stop(30 * time.Second) }()
	harness.Eventually(t, 10*time.Second, func() string {
		if c, err := net.Dial("tcp", strings.TrimPrefix(serverURL, "http://")); err == nil {
			c.Close()
			return "cm-server still accepts connections after SIGTERM"
		}
		return ""
	})
	slowID := slow.finish(t)
	load.wait()
	if err := <-exited; err != nil {
		t.Errorf("cm-server exit after SIGTERM: %v, want status 0", err)
	}

	acked := load.result(t)
	acked[slowID] = "0.01"
	sent := sentIDs(t, server.Output())
	for id := range acked {
		if !sent[id] {
			t.Errorf("purchase %s: answered 202 but not logged as sent", id)
		}
	}
	for id := range sent {
		if _, ok := acked[id]; !ok {
			t.Errorf("purchase %s: sent to Kafka, but its 202 never reached the buyer", id)
		}
	}
	shop.StartServer("", nil) // a new one, to read back through getAllUserBuys
	harness.WaitStoredOnce(t, shop, "drain", acked, visibleWithin)
}

// halfSentBuy is a purchase whose body is only half written.
type halfSentBuy struct {
	conn net.Conn
	rest string
}

// startHalfSentBuy sends a buy's headers and half its body, so that the
// request is under way in cm-server's handler.
func startHalfSentBuy(t *testing.T, serverURL string) *halfSentBuy {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(serverURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := `{"username":"drain","userid":"slow","price":"0.01"}`
	head := fmt.Sprintf("POST /buy HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n"+
		"Idempotency-Key: drain-slow\r\nContent-Length: %d\r\n\r\n", len(body))
	if _, err := io.WriteString(conn, head+body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	return &halfSentBuy{conn: conn, rest: body[len(body)/2:]}
}

// finish sends the rest of the body and returns the id of the 202.
func (h *halfSentBuy) finish(t *testing.T) string {
	t.Helper()
	_ = h.conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(h.conn, h.rest); err != nil {
		t.Fatalf("request under way at SIGTERM: writing the rest of the body: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(h.conn), nil)
	if err != nil {
		t.Fatalf("request under way at SIGTERM: got %v, want its answer", err)
	}
	defer resp.Body.Close()
	var out harness.BuyResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusAccepted || out.ID == "" {
		t.Fatalf("request under way at SIGTERM: got %d %+v %v, want 202 with an id", resp.StatusCode, out, err)
	}
	return out.ID
}

// buyers buy concurrently, each until its first connection error.
type buyers struct {
	wg       sync.WaitGroup
	mu       sync.Mutex
	acked    map[string]string
	answered map[int]int    // statuses other than 202
	refused  map[string]int // connection errors, by kind
}

func startBuyers(serverURL string, n int) *buyers {
	b := &buyers{acked: map[string]string{}, answered: map[int]int{}, refused: map[string]int{}}
	for w := range n {
		b.wg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second}
			for i := range 5000 {
				price := fmt.Sprintf("%d.%02d", i, w) // unique per purchase
				body := fmt.Sprintf(`{"username":"drain","userid":"w-%d","price":%q}`, w, price)
				req, _ := http.NewRequest("POST", serverURL+"/buy", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", fmt.Sprintf("drain-%d-%d", w, i))
				resp, err := client.Do(req)
				if !b.record(resp, err, price) {
					return
				}
			}
		})
	}
	return b
}

// record notes one outcome and reports whether to go on.
func (b *buyers) record(resp *http.Response, err error, price string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.refused[connErrorKind(err)]++
		return false
	}
	defer resp.Body.Close()
	var out harness.BuyResponse
	if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&out) != nil || out.ID == "" {
		b.answered[resp.StatusCode]++
		return true
	}
	b.acked[out.ID] = price
	return true
}

func connErrorKind(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, io.EOF):
		return "closed"
	}
	return err.Error()
}

func (b *buyers) waitAcked(t *testing.T, n int) {
	t.Helper()
	harness.Eventually(t, 30*time.Second, func() string {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.acked) < n {
			return fmt.Sprintf("buyers: %d purchases acknowledged, want %d", len(b.acked), n)
		}
		return ""
	})
}

func (b *buyers) wait() { b.wg.Wait() }

// result fails t for any answer but 202 and returns the 202'd purchases:
// id -> price sent.
func (b *buyers) result(t *testing.T) map[string]string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.answered) > 0 {
		t.Errorf("answers other than 202 during the drain: %v, want none", b.answered)
	}
	t.Logf("buyers: %d purchases acknowledged; after SIGTERM, connection errors %v", len(b.acked), b.refused)
	out := make(map[string]string, len(b.acked))
	for id, price := range b.acked {
		out[id] = price
	}
	return out
}

// sentIDs reads the purchase ids cm-server logged as sent (debug level).
func sentIDs(t *testing.T, log string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		var entry struct {
			Msg string `json:"msg"`
			ID  string `json:"purchase_id"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "purchase sent" {
			ids[entry.ID] = true
		}
	}
	if len(ids) == 0 {
		t.Fatal("cm-server logged no \"purchase sent\" line: is LOG_LEVEL debug?")
	}
	return ids
}
