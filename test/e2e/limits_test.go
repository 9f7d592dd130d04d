package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// The limits the functions promise (docs/api.md, internal/server).
const (
	maxHeader       = 16 << 10 // MaxHeaderBytes; net/http allows 4 KiB of slack on top
	maxBuyBody      = 64 << 10
	maxEventBody    = 256 << 10
	readHeaderLimit = 5 * time.Second
	readLimit       = 15 * time.Second
)

// padTo pads a JSON body with trailing spaces to exactly n bytes.
func padTo(body string, n int) string { return body + strings.Repeat(" ", n-len(body)) }

// TestLimits checks each limit from both sides: the largest value allowed
// is accepted (and stored as sent), one more is rejected with its status.
func TestLimits(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", nil)
	servers := map[string]string{"cm-server": shop.ServerURL, "cm-api": shop.APIURL}

	t.Run("header", func(t *testing.T) {
		t.Parallel()
		for name, base := range servers {
			ok := send("GET", base+"/healthz", "", map[string]string{"X-Pad": strings.Repeat("h", maxHeader*3/4)}, 10*time.Second)
			if ok.err != nil || ok.status != http.StatusOK {
				t.Errorf("%s with a 12 KiB header: got %d %v, want 200", name, ok.status, ok.err)
			}
			big := send("GET", base+"/healthz", "", map[string]string{"X-Pad": strings.Repeat("h", 2*maxHeader)}, 10*time.Second)
			if big.err != nil || big.status != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("%s with a 32 KiB header: got %d %v, want 431", name, big.status, big.err)
			}
		}
	})

	t.Run("body", func(t *testing.T) {
		t.Parallel()
		body := `{"username":"limits-body","userid":"l-1","price":"1.00","timestamp":"2024-05-31T15:54:32.204Z"}`
		id := buyOK(t, shop, padTo(body, maxBuyBody), nil)
		a := send("POST", shop.ServerURL+"/buy", padTo(body, maxBuyBody+1), jsonType, 10*time.Second)
		if _, bad := a.jsonError(); a.status != http.StatusRequestEntityTooLarge || bad != "" {
			t.Errorf("buy of %d bytes: got %d %s, want 413 JSON", maxBuyBody+1, a.status, a.body)
		}
		event := ceBinary("limits-event", eventType)
		if a := send("POST", shop.APIURL+"/", padTo(body, maxEventBody), event, 10*time.Second); a.status != http.StatusOK {
			t.Errorf("event of %d bytes: got %d %s, want 200", maxEventBody, a.status, a.body)
		}
		a = send("POST", shop.APIURL+"/", padTo(body, maxEventBody+1), with(event, "Ce-Id", "limits-event-2"), 10*time.Second)
		if _, bad := a.jsonError(); a.status != http.StatusRequestEntityTooLarge || bad != "" {
			t.Errorf("event of %d bytes: got %d %s, want 413 JSON", maxEventBody+1, a.status, a.body)
		}
		waitForPurchases(t, shop, "limits-body", id, "limits-event")
	})

	t.Run("body_2mib_without_expect", func(t *testing.T) {
		t.Parallel()
		status, body, err := postWholeBody(shop.ServerURL, 2<<20)
		if err != nil || status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than") {
			t.Errorf("2 MiB body, written in full before reading: got %d %q %v, want the 413 JSON answer", status, body, err)
		}
	})

	t.Run("fields", func(t *testing.T) { fieldLimits(t, shop) })

	// Slow clients, all at once: each waits out a server timeout.
	t.Run("slow_clients", func(t *testing.T) {
		t.Parallel()
		var wg sync.WaitGroup
		for name, base := range servers {
			wg.Go(func() { slowHeader(t, name, base, false) })
			wg.Go(func() { slowHeader(t, name, base, true) })
		}
		wg.Go(func() { stalledBody(t, shop.ServerURL) })
		wg.Wait()
	})
}

// fieldLimits buys at and past every length limit.
func fieldLimits(t *testing.T, shop *harness.Shop) {
	t.Parallel()
	long := strings.Repeat("u", 100)
	wide := strings.Repeat("ë", 100) // 100 characters, 200 bytes: limits count characters
	buy := func(username, userid, price string) string {
		return fmt.Sprintf(`{"username":%q,"userid":%q,"price":%q}`, username, userid, price)
	}
	accepted := map[string][]string{}
	for _, tt := range []struct {
		name, user, body, field string
		header                  map[string]string
	}{
		{"username_100", long, buy(long, "l-2", "1.00"), "", nil},
		{"username_100_two_byte", wide, buy(wide, "l-2", "1.00"), "", nil},
		{"username_101", "", buy(long+"u", "l-2", "1.00"), "username", nil},
		{"userid_64", long, buy(long, strings.Repeat("i", 64), "2.00"), "", nil},
		{"userid_65", "", buy(long, strings.Repeat("i", 65), "2.00"), "userid", nil},
		{"price_max", long, buy(long, "l-2", "999999999.99"), "", nil},
		{"price_over_max", "", buy(long, "l-2", "1000000000.00"), "price", nil},
		{"idempotency_key_255", long, buy(long, "l-2", "3.00"), "", map[string]string{"Idempotency-Key": strings.Repeat("k", 255)}},
		{"idempotency_key_256", "", buy(long, "l-2", "3.00"), "Idempotency-Key", map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}},
		{"event_id_128", long, buy(long, "l-2", "4.00"), "", ceBinary(strings.Repeat("e", 128), eventType)},
		{"event_id_129", "", buy(long, "l-2", "4.00"), "id", ceBinary(strings.Repeat("e", 129), eventType)},
	} {
		status, resp, err := shop.Buy(tt.body, tt.header)
		switch {
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.field == "" && status == http.StatusAccepted:
			accepted[tt.user] = append(accepted[tt.user], resp.ID)
		case tt.field == "":
			t.Errorf("%s: got %d %+v, want 202", tt.name, status, resp)
		case status != http.StatusBadRequest || resp.Errors[tt.field] == "":
			t.Errorf("%s: got %d %+v, want 400 naming %s", tt.name, status, resp, tt.field)
		}
	}
	for username, ids := range accepted {
		waitForPurchases(t, shop, username, ids...) // read back through the path segment
	}
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/getAllUserBuys/" + url.PathEscape(long+"u"), http.StatusBadRequest},
		{"/getAllUserBuys/" + url.PathEscape(wide) + "?limit=1000", http.StatusOK},
		{"/getAllUserBuys/" + url.PathEscape(wide) + "?limit=1001", http.StatusBadRequest},
		{"/getAllUserBuys/x?cursor=" + strings.Repeat("A", 257), http.StatusBadRequest},
	} {
		if a := send("GET", shop.ServerURL+tt.path, "", nil, 10*time.Second); a.status != tt.status {
			t.Errorf("GET %.60s...: got %d %s, want %d", tt.path, a.status, a.body, tt.status)
		}
	}
}

// slowHeader opens a connection, sends part of a request header and then
// nothing (or one byte every half second, trickled): the server must close
// the connection once ReadHeaderTimeout has passed. The test waits at most
// six times as long, and meanwhile the server goes on serving others.
func slowHeader(t *testing.T, name, base string, trickle bool) {
	what := name + map[bool]string{false: " stalled header", true: " trickled header"}[trickle]
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: shop\r\n"); err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	closed := make(chan error, 1)
	go func() {
		_ = conn.SetReadDeadline(time.Now().Add(6 * readHeaderLimit))
		_, err := io.Copy(io.Discard, conn)
		closed <- err
	}()
	if a := send("GET", base+"/healthz", "", nil, 5*time.Second); a.status != http.StatusOK {
		t.Errorf("%s: another client meanwhile got %d %v, want 200", what, a.status, a.err)
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case err := <-closed:
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("%s: connection still open after %v, want it closed after the read-header timeout (%v)", what, 6*readHeaderLimit, readHeaderLimit)
			}
			return // EOF (nil from io.Copy) or a reset: the server closed it
		case <-tick.C:
			if trickle && i < 12*int(readHeaderLimit/time.Second) {
				_, _ = io.WriteString(conn, fmt.Sprintf("X-%d: y\r\n", i))
			}
		}
	}
}

// stalledBody sends a buy's headers and part of its body, then stalls: the
// server must give up once ReadTimeout has passed, never acknowledge the
// purchase, and close the connection.
func stalledBody(t *testing.T, base string) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Errorf("stalled body: %v", err)
		return
	}
	defer conn.Close()
	head := "POST /buy HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
	if _, err := io.WriteString(conn, head+`{"username":"stalled",`); err != nil {
		t.Errorf("stalled body: %v", err)
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * readLimit))
	got, err := io.ReadAll(conn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("stalled body: connection still open after %v, want it closed after the read timeout (%v)", 3*readLimit, readLimit)
		return
	}
	// Closed without an answer, or a 4xx: the purchase was not taken.
	if status, _, _ := strings.Cut(strings.TrimPrefix(string(got), "HTTP/1.1 "), " "); len(got) > 0 && !strings.HasPrefix(status, "4") {
		t.Errorf("stalled body: got %q, want no answer or a 4xx", got)
	}
}

// postWholeBody posts a /buy body of size bytes the way Python's urllib and
// requests do, with no "Expect: 100-continue": it writes the whole body,
// then reads the answer, and returns its status and body. It writes 64 KiB
// every 20 ms (about 3 MiB/s, a modest uplink): on loopback one big write
// lands in the socket buffers at once, and a server that stops reading
// would get away with it.
func postWholeBody(base string, size int) (int, string, error) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	head := fmt.Sprintf("POST /buy HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size)
	req := head + `{"username":"` + strings.Repeat("a", size-len(`{"username":"`))
	for chunk := 64 << 10; len(req) > 0; req = req[min(chunk, len(req)):] {
		if _, err := io.WriteString(conn, req[:min(chunk, len(req))]); err != nil {
			return 0, "", fmt.Errorf("write the body: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", fmt.Errorf("read the answer: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
