package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// newTestServer serves st at the default config with a group commit in
// front of it.
func newTestServer(t *testing.T, st store) http.Handler {
	t.Helper()
	return serveWith(t, st, testBatcher(t, st))
}

// serveWith serves st, writing through b, at the default config.
func serveWith(t *testing.T, st store, b *batcher) http.Handler {
	t.Helper()
	cfg, err := loadConfig(apitest.Lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	return newServer(log, cfg, st, b, nil, server.NewReadiness(log), testMetrics())
}

// testBatcher is a group commit in front of st, closed when the test ends.
func testBatcher(t testing.TB, st store) *batcher {
	b := newBatcher(st, testMetrics(), 10, time.Millisecond, time.Second, 1)
	t.Cleanup(b.Close)
	return b
}

const data = `{"username":"joe","userid":"005","price":"1195.30","timestamp":"2024-05-31T15:54:32.204Z"}`

func binary(id, typ string) map[string]string {
	return map[string]string{"Content-Type": "application/json", "Ce-Specversion": "1.0", "Ce-Id": id,
		"Ce-Source": "/scalable-shop/cm-server", "Ce-Type": typ}
}

func TestReceive(t *testing.T) {
	t.Parallel()
	structured := `{"specversion":"1.0","id":"s-1","source":"/x","type":"` + purchase.EventType +
		`","datacontenttype":"application/json","data":` + data + `}`
	tests := []struct {
		name       string
		body       string
		header     map[string]string
		storeErr   error
		wantStatus int
		wantStored int
	}{
		{"receive_200_binary", data, binary("b-1", purchase.EventType), nil, http.StatusOK, 1},
		{"receive_200_structured", structured, map[string]string{"Content-Type": "application/cloudevents+json"}, nil, http.StatusOK, 1},
		{"receive_415_plain_json", data, map[string]string{"Content-Type": "application/json"}, nil, http.StatusUnsupportedMediaType, 0},
		{"receive_400_wrong_type", data, binary("b-1", "dev.knative.kafka.event"), nil, http.StatusBadRequest, 0},
		{"receive_400_negative_price", strings.Replace(data, `"1195.30"`, `"-1"`, 1), binary("b-1", purchase.EventType), nil, http.StatusBadRequest, 0},
		{"receive_400_missing_timestamp", `{"username":"joe","userid":"005","price":"1"}`, binary("b-1", purchase.EventType), nil, http.StatusBadRequest, 0},
		{"receive_400_garbage_structured", `{"specversion":`, map[string]string{"Content-Type": "application/cloudevents+json"}, nil, http.StatusBadRequest, 0},
		{"receive_503_store_down", data, binary("b-1", purchase.EventType), errors.New("connection refused"), http.StatusServiceUnavailable, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newMemStore()
			st.err = tt.storeErr
			rec := apitest.Do(newTestServer(t, st), "POST", "/", tt.body, tt.header)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if n := st.count(); n != tt.wantStored {
				t.Errorf("stored: got %d, want %d", n, tt.wantStored)
			}
			if tt.wantStatus >= 500 && rec.Header().Get("Retry-After") == "" {
				t.Error("5xx without Retry-After")
			}
			if tt.wantStatus >= 500 && strings.Contains(rec.Body.String(), "connection refused") {
				t.Errorf("5xx body shows the cause: %s", rec.Body)
			}
		})
	}
}

func TestReceiveDuplicateAndConflict(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	h := newTestServer(t, st)
	for i, want := range []bool{false, true} {
		rec := apitest.Do(h, "POST", "/", data, binary("dup-1", purchase.EventType))
		var got receiveResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK || got.Duplicate != want {
			t.Fatalf("delivery %d: got %d %s, want 200 with duplicate=%v", i+1, rec.Code, rec.Body, want)
		}
	}
	other := strings.Replace(data, `"1195.30"`, `"1.00"`, 1)
	if rec := apitest.Do(h, "POST", "/", other, binary("dup-1", purchase.EventType)); rec.Code != http.StatusBadRequest {
		t.Errorf("same id, other purchase: got %d, want 400 (%s)", rec.Code, rec.Body)
	}
	if n := st.count(); n != 1 {
		t.Errorf("stored: got %d, want 1", n)
	}
}

func TestBuyList(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	h := newTestServer(t, st)
	for _, id := range []string{"a", "b"} {
		if rec := apitest.Do(h, "POST", "/", data, binary(id, purchase.EventType)); rec.Code != http.StatusOK {
			t.Fatalf("store %s: got %d", id, rec.Code)
		}
	}
	rec := apitest.Do(h, "GET", "/buyList/joe", "", nil)
	var got struct {
		Status    string            `json:"status"`
		Purchases []json.RawMessage `json:"purchases"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Status != "Ok!" || len(got.Purchases) != 2 {
		t.Fatalf("got %d %s, want Ok! with 2 purchases", rec.Code, rec.Body)
	}
	want := `{"_id":"b","username":"joe","userid":"005","price":"1195.30","timestamp":"2024-05-31T15:54:32.204Z"}`
	if string(got.Purchases[0]) != want {
		t.Errorf("first purchase: got %s, want %s", got.Purchases[0], want)
	}
	if rec := apitest.Do(h, "GET", "/buyList/nobody", "", nil); !strings.Contains(rec.Body.String(), `"purchases":[]`) {
		t.Errorf("no purchases: got %s, want \"purchases\":[]", rec.Body)
	}
	for target, want := range map[string]int{"/buyList/joe?limit=abc": 400, "/buyList/joe?cursor=%2F%2F": 400, "/buyList/%20joe": 400} {
		if rec := apitest.Do(h, "GET", target, "", nil); rec.Code != want {
			t.Errorf("GET %s: got %d, want %d", target, rec.Code, want)
		}
	}
	st.err = errors.New("down")
	if rec := apitest.Do(h, "GET", "/buyList/joe", "", nil); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("store down: got %d, want 503", rec.Code)
	}
	st.err = fmt.Errorf("list purchases: %w", context.DeadlineExceeded)
	rec = apitest.Do(h, "GET", "/buyList/joe", "", nil)
	if rec.Code != http.StatusGatewayTimeout || !strings.Contains(rec.Body.String(), "purchase store") {
		t.Errorf("store too slow: got %d %s, want 504 naming the purchase store", rec.Code, rec.Body)
	}
}

func TestRoutesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	var patterns []string
	for _, rt := range routes(slog.New(slog.DiscardHandler), config{}, newMemStore(), nil, nil, nil, testMetrics()) {
		patterns = append(patterns, rt.pattern)
	}
	apitest.RoutesMatch(t, openAPI, patterns)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(apitest.Lookup(nil))
	if err != nil || cfg.kafkaMode() {
		t.Errorf("defaults: got kafkaMode=%v, %v; want HTTP mode, no error", cfg.kafkaMode(), err)
	}
	cfg, err = loadConfig(apitest.Lookup(map[string]string{"KAFKA_BROKERS": "a:9092,b:9092"}))
	if err != nil || !cfg.kafkaMode() || len(cfg.Kafka.Brokers) != 2 {
		t.Errorf("KAFKA_BROKERS: got %v, %v; want Kafka mode with 2 brokers", cfg.Kafka.Brokers, err)
	}
	_, err = loadConfig(apitest.Lookup(map[string]string{"KAFKA_BROKERS": "a:9092", "KAFKA_DLQ_TOPIC": "purchases"}))
	if err == nil {
		t.Error("DLQ topic = topic: got no error, want one")
	}
	cfg, err = loadConfig(apitest.Lookup(map[string]string{"BATCH_WRITERS": "4", "BATCH_MAX_SIZE": "100"}))
	if err != nil || cfg.BatchWriters != 4 || cfg.BatchSize != 100 {
		t.Errorf("group commit: got %d writers, batches of %d, %v; want 4, 100, no error", cfg.BatchWriters, cfg.BatchSize, err)
	}
	if _, err = loadConfig(apitest.Lookup(map[string]string{"BATCH_WRITERS": "0"})); err == nil {
		t.Error("BATCH_WRITERS=0: got no error, want one")
	}
	cfg, _ = loadConfig(apitest.Lookup(map[string]string{"MONGODB_URI": "mongodb://u:hunter2@db:27017/"}))
	if s := cfg.logValue().String(); strings.Contains(s, "hunter2") {
		t.Errorf("logged config shows the password: %s", s)
	}
}

// TestReceiveBodyBrokenOffIsRetryable: a body that breaks off mid-read says
// nothing about the event, so the answer is 408, which a KafkaSource
// retries, not 400, which it would dead-letter; nothing is stored.
func TestReceiveBodyBrokenOffIsRetryable(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	req := httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader(data[:20]), iotest.ErrReader(io.ErrUnexpectedEOF)))
	for k, v := range binary("b-1", purchase.EventType) {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	newTestServer(t, st).ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestTimeout || !strings.Contains(rec.Body.String(), `"status":"Error"`) {
		t.Errorf("got %d %s, want 408 JSON", rec.Code, rec.Body)
	}
	if n := st.count(); n != 0 {
		t.Errorf("stored: got %d, want 0", n)
	}
}

// BenchmarkReceive is one purchase event POSTed to cm-api as a KafkaSource
// delivers it, through the whole handler into the batcher (a store that
// keeps nothing): the CPU and allocations of a purchase in HTTP mode
// besides the network and the store.
func BenchmarkReceive(b *testing.B) {
	cfg, err := loadConfig(apitest.Lookup(nil))
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	st := discardBatchStore{newMemStore()}
	bt := newBatcher(st, testMetrics(), 500, time.Millisecond, time.Second, 2)
	defer bt.Close()
	h := newServer(log, cfg, st, bt, nil, server.NewReadiness(log), testMetrics())
	headers := binary("b-1", purchase.EventType)
	b.ReportAllocs()
	b.SetParallelism(32) // requests in flight, so that writes share batches as under load
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("POST", "/", strings.NewReader(data))
			for k, v := range headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}
