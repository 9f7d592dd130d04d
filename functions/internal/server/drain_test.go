package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/telemetrytest"
)

// TestDrainOversized_stopsAtItsDeadline sends a body that never ends,
// slowly, through Handler (ServerSpans, Middleware and the mux: the chain
// cm-server serves /buy through), with tracing off and on. The handler reads
// it as cm-server's /buy does: ReadBody finds it too large, DrainOversized
// drains it. The test server has no ReadTimeout, so only the drain's own
// read deadline can stop the drain: it must end with a deadline error, short
// of its limit, and the client must read the 413.
func TestDrainOversized_stopsAtItsDeadline(t *testing.T) {
	for _, tracing := range []bool{false, true} {
		t.Run(fmt.Sprintf("tracing_%v", tracing), func(t *testing.T) {
			if tracing {
				telemetrytest.Record(t) // process globals: not parallel
			}
			const limit = 1 << 50 // never reached: the drain ends at its deadline or not at all
			drained := make(chan *countingBody, 1)
			mux := http.NewServeMux()
			mux.HandleFunc("POST /drain", func(w http.ResponseWriter, r *http.Request) {
				_, err := ReadBody(w, r, 16)
				body := &countingBody{ReadCloser: r.Body}
				r.Body = body
				DrainOversized(w, r, limit, 50*time.Millisecond)
				drained <- body
				Fail(w, r, slog.New(slog.DiscardHandler), err)
			})
			srv := httptest.NewServer(Handler(slog.New(slog.DiscardHandler), nopObserver{}, mux))
			t.Cleanup(srv.Close)

			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() }) // before srv.Close: ends a drain still running
			stop := make(chan struct{})
			var sender sync.WaitGroup
			t.Cleanup(sender.Wait)
			t.Cleanup(func() { close(stop) })
			sender.Go(func() {
				head := "POST /drain HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n" +
					fmt.Sprintf("Content-Length: %d\r\n\r\n", int64(limit)*2)
				if _, err := io.WriteString(conn, head); err != nil {
					return
				}
				chunk := []byte(strings.Repeat("a", 1024))
				for {
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
					if _, err := conn.Write(chunk); err != nil {
						return // the server closed the connection
					}
				}
			})

			var body *countingBody
			select {
			case body = <-drained:
			case <-time.After(time.Minute):
				t.Fatal("the drain still reads after a minute: its read deadline was never set")
			}
			if body.n >= limit || !errors.Is(body.err, os.ErrDeadlineExceeded) {
				t.Errorf("drain read %d bytes and stopped on %v, want fewer than %d and a deadline error", body.n, body.err, int64(limit))
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("read the answer: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
				t.Errorf("got %d (close %v), want 413 and the connection closed", resp.StatusCode, resp.Close)
			}
		})
	}
}

// TestHandler_responseControllerReachesTheConnection: a handler behind
// Handler, tracing off and on, can flush and set deadlines through
// http.ResponseController, which unwraps every writer on the way.
func TestHandler_responseControllerReachesTheConnection(t *testing.T) {
	for _, tracing := range []bool{false, true} {
		t.Run(fmt.Sprintf("tracing_%v", tracing), func(t *testing.T) {
			if tracing {
				telemetrytest.Record(t) // process globals: not parallel
			}
			mux := http.NewServeMux()
			mux.HandleFunc("GET /rc", func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				errs := []error{rc.SetReadDeadline(time.Now().Add(time.Minute)),
					rc.SetWriteDeadline(time.Now().Add(time.Minute)), rc.Flush()}
				_, _ = fmt.Fprint(w, errors.Join(errs...))
			})
			srv := httptest.NewServer(Handler(slog.New(slog.DiscardHandler), nopObserver{}, mux))
			t.Cleanup(srv.Close)
			resp, err := http.Get(srv.URL + "/rc")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(got) != "<nil>" {
				t.Errorf("ResponseController through Handler: got %q (%v), want no error", got, err)
			}
		})
	}
}

// countingBody counts the bytes read through it and keeps the error that
// ended the reading.
type countingBody struct {
	io.ReadCloser
	n   int64
	err error
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err != nil {
		b.err = err
	}
	return n, err
}

type nopObserver struct{}

func (nopObserver) ObserveRequest(context.Context, string, string, int, time.Duration) {}
