package purchase_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

func TestEventRoundTrip(t *testing.T) {
	t.Parallel()
	want := purchase.Purchase{
		ID: "0190c5d4-7e1a-7b3c-9f00-0123456789ab", Username: "Zoë O'Brien", UserID: "005",
		Price: 119530, Timestamp: time.Date(2024, 5, 31, 15, 54, 32, 204e6, time.UTC),
	}
	e := purchase.NewEvent(want, "/scalable-shop/cm-server")
	if err := e.Validate(); err != nil {
		t.Fatalf("NewEvent made an invalid CloudEvent: %v", err)
	}
	if got := e.Extensions()[purchase.PartitionKeyExtension]; got != "005" {
		t.Errorf("partitionkey: got %v, want 005", got)
	}
	got, err := purchase.FromEvent(e, time.Time{})
	if err != nil {
		t.Fatalf("FromEvent: %v", err)
	}
	if got != want {
		t.Errorf("round trip: got %+v, want %+v", got, want)
	}
}

func TestFromEventRejects(t *testing.T) {
	t.Parallel()
	good := purchase.NewEvent(purchase.Purchase{ID: "a1", Username: "joe", UserID: "005", Price: 1,
		Timestamp: time.Unix(0, 0).UTC()}, "/test")
	tests := []struct {
		name   string
		mutate func(*event.Event)
		field  string
	}{
		{"wrong_type", func(e *event.Event) { e.SetType("com.example.other") }, "type"},
		{"xml_content", func(e *event.Event) { e.SetDataContentType("application/xml") }, "datacontenttype"},
		{"no_data", func(e *event.Event) { e.DataEncoded = nil }, "data"},
		{"garbage_data", func(e *event.Event) { e.DataEncoded = []byte("\x00\x01garbage") }, "body"},
		{"negative_price", func(e *event.Event) {
			e.DataEncoded = []byte(`{"username":"joe","userid":"1","price":-1,"timestamp":"2024-05-31T15:54:32.204Z"}`)
		}, "price"},
		{"missing_timestamp", func(e *event.Event) {
			e.DataEncoded = []byte(`{"username":"joe","userid":"1","price":1}`)
		}, "timestamp"},
		{"bad_id", func(e *event.Event) { e.SetID("has space") }, "id"},
		{"no_source", func(e *event.Event) { e.SetSource("") }, "event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := good.Clone()
			tt.mutate(&e)
			_, err := purchase.FromEvent(e, time.Time{})
			var perr *purchase.Error
			if !errors.As(err, &perr) {
				t.Fatalf("got error %v, want *purchase.Error", err)
			}
			if _, ok := perr.Fields[tt.field]; !ok {
				t.Errorf("got fields %v, want a problem with %q", perr.Fields, tt.field)
			}
		})
	}
}
