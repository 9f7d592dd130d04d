package main

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// TestWriteRecordIsTheBindings: writeRecord writes every event the same
// record as the SDK's Kafka binding: headers, key and value.
func TestWriteRecordIsTheBindings(t *testing.T) {
	t.Parallel()
	base := purchase.Purchase{ID: "0190c5d4-7e1a-7b3c-9f00-0123456789ab", Username: "joe", UserID: "005", Price: 119530,
		Timestamp: time.Date(2024, 5, 31, 15, 54, 32, 204e6, time.UTC)}
	keyed, origin := base, base
	keyed.KeyID = "6f1c1a6e-4a54-4f3e-9d0b-5c6c7a0e2b1d"
	origin.Origin = purchase.Origin{EventID: "client-1", EventSource: "/client"}
	events := map[string]event.Event{
		"plain":  purchase.NewEvent(base, "/scalable-shop/cm-server"),
		"keyed":  purchase.NewEvent(keyed, "/scalable-shop/cm-server"),
		"origin": purchase.NewEvent(origin, "https://shop.example/a b?c=d"),
	}
	traced := purchase.NewEvent(base, "/s")
	traced.SetExtension("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	events["traced"] = traced
	schema := purchase.NewEvent(base, "/s")
	schema.SetDataSchema("https://example.com/schema")
	events["dataschema_through_binding"] = schema
	number := purchase.NewEvent(base, "/s")
	number.SetExtension("count", 3)
	events["number_extension_through_binding"] = number
	bare := event.New()
	bare.SetID("x")
	bare.SetSource("/s")
	bare.SetType("t")
	events["no_data_no_key"] = bare
	for name, e := range events {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var got, want sarama.ProducerMessage
			if err := writeRecord(context.Background(), &e, &got); err != nil {
				t.Fatal(err)
			}
			if err := kafka_sarama.WriteProducerMessage(context.Background(), binding.ToMessage(&e), &want); err != nil {
				t.Fatal(err)
			}
			if g, w := headerMap(got.Headers), headerMap(want.Headers); !maps.Equal(g, w) || len(got.Headers) != len(want.Headers) {
				t.Errorf("headers: got %v, want %v", g, w)
			}
			if g, w := encoded(t, got.Key), encoded(t, want.Key); g != w {
				t.Errorf("key: got %q, want %q", g, w)
			}
			if g, w := encoded(t, got.Value), encoded(t, want.Value); g != w {
				t.Errorf("value: got %q, want %q", g, w)
			}
		})
	}
}

func headerMap(hs []sarama.RecordHeader) map[string]string {
	m := map[string]string{}
	for _, h := range hs {
		m[string(h.Key)] = string(h.Value)
	}
	return m
}

// encoded is what sarama would send for e: "<nil>" for no encoder.
func encoded(t *testing.T, e sarama.Encoder) string {
	t.Helper()
	if e == nil {
		return "<nil>"
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSourceText_followsTheSource: the remembered source text is only used
// for the same source.
func TestSourceText_followsTheSource(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"/scalable-shop/cm-server", "https://shop.example/a b?c=d", "/scalable-shop/cm-server", "/s", "/s"} {
		e := event.New()
		e.SetSource(s)
		src := e.Context.(*event.EventContextV1).Source
		if got, want := string(sourceText(&src)), src.String(); got != want {
			t.Errorf("source %q: header %q, want %q", s, got, want)
		}
	}
}
