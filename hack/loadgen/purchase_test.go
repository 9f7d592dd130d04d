package main

import (
	"encoding/json"
	"testing"
	"time"
)

func TestPurchaseRecord_is_what_cm_server_produces(t *testing.T) {
	t.Parallel()
	ts := time.Date(2024, 5, 31, 15, 54, 32, 204_000_000, time.UTC)
	p := newPurchase("bench-x", 7, 5, ts)
	m, err := p.record("purchases")
	if err != nil {
		t.Fatal(err)
	}
	headers := map[string]string{}
	for _, h := range m.Headers {
		headers[string(h.Key)] = string(h.Value)
	}
	want := map[string]string{"ce_specversion": "1.0", "ce_id": p.ID, "ce_type": eventType, "ce_source": serverSource,
		"ce_subject": "bench-x-2", "ce_partitionkey": "bench-x-2", "content-type": "application/json"}
	for k, v := range want {
		if headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, headers[k], v)
		}
	}
	if key, _ := m.Key.Encode(); string(key) != "bench-x-2" {
		t.Errorf("key %q, want the user id bench-x-2", key)
	}
	value, _ := m.Value.Encode()
	var data map[string]string
	if err := json.Unmarshal(value, &data); err != nil {
		t.Fatalf("value %s: %v", value, err)
	}
	wantData := map[string]string{"username": "bench-x-user-2", "userid": "bench-x-2", "price": "1.07",
		"timestamp": "2024-05-31T15:54:32.204Z"}
	for k, v := range wantData {
		if data[k] != v {
			t.Errorf("data %s = %q, want %q", k, data[k], v)
		}
	}
}

func TestPurchaseDocument_has_cm_api_shape(t *testing.T) {
	t.Parallel()
	ts := time.Date(2024, 5, 31, 15, 54, 32, 204_567_000, time.FixedZone("x", 3600))
	d := newPurchase("u", 42, 1000, ts).document()
	if d.PriceMinor != 142 || !d.Timestamp.Equal(ts.Truncate(time.Millisecond)) || d.Timestamp.Location() != time.UTC {
		t.Errorf("got %+v, want integer cents and a UTC millisecond timestamp", d)
	}
}
