package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// TestOversizedBuyIsAnswered413 posts bodies far over the limit as Python's
// urllib and requests do: no "Expect: 100-continue", the whole body written
// before the answer is read. The client must read a 413 JSON answer, not a
// connection reset.
func TestOversizedBuyIsAnswered413(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(newTestServer(t, &fakeSender{}, "http://127.0.0.1:1", time.Second))
	t.Cleanup(srv.Close)
	for _, size := range []int{2 << 20, 4 << 20} {
		t.Run(fmt.Sprintf("%d_MiB", size>>20), func(t *testing.T) {
			t.Parallel()
			resp, err := postWithoutExpect(srv.Listener.Addr().String(), size)
			if err != nil {
				t.Fatalf("got %v, want a 413 answer", err)
			}
			defer resp.Body.Close()
			var body server.ErrorBody
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge ||
				body.Status != "Error" || !strings.Contains(body.Message, "larger than") {
				t.Errorf("got %d %+v (%v), want 413 with the JSON error", resp.StatusCode, body, err)
			}
		})
	}
}

// postWithoutExpect writes a /buy request of size bytes to addr in full,
// then reads the answer.
func postWithoutExpect(addr string, size int) (*http.Response, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	head := fmt.Sprintf("POST /buy HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, size)
	body := io.MultiReader(strings.NewReader(head+`{"username":"`), io.LimitReader(repeatByte('a'), int64(size-len(`{"username":"`))))
	if _, err := io.Copy(conn, body); err != nil {
		conn.Close()
		return nil, fmt.Errorf("write the body: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read the answer: %w", err)
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{resp.Body, conn}
	return resp, nil
}

// repeatByte is an endless stream of b.
type repeatByte byte

func (r repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}
