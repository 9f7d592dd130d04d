package main

import (
	"context"
	"maps"
	"testing"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase/purchasetest"
)

// TestWriteRecordIsTheBindings: writeRecord writes every event the same
// record as the SDK's Kafka binding: headers, key and value.
func TestWriteRecordIsTheBindings(t *testing.T) {
	t.Parallel()
	shapes := purchasetest.Shapes()
	events := map[string]event.Event{}
	for name, p := range shapes {
		events[name] = purchase.NewEvent(p, "/scalable-shop/cm-server")
	}
	events["origin_odd_source"] = purchase.NewEvent(shapes["origin"], "https://shop.example/a b?c=d")
	base := shapes["plain"]
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
