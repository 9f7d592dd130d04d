package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase/purchasetest"
)

// TestReadBinaryTakesWhatCMServerWrites: the records cm-server writes (with
// and without Origin and key, with a traceparent) are read without the
// SDK, to the purchase the SDK reads.
func TestReadBinaryTakesWhatCMServerWrites(t *testing.T) {
	t.Parallel()
	for name, p := range purchasetest.Shapes() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := purchase.NewEvent(p, "/scalable-shop/cm-server")
			e.SetExtension("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			msg := record(t, func(pm *sarama.ProducerMessage) error {
				return kafka_sarama.WriteProducerMessage(context.Background(), binding.ToMessage(&e), pm)
			})
			got, ok := readBinary(msg)
			if !ok {
				t.Fatalf("readBinary: not taken for %v", msg.Headers)
			}
			want, err := decodeWithSDK(context.Background(), msg)
			if err != nil || got != want {
				t.Errorf("got %+v, want %+v (SDK error %v)", got, want, err)
			}
		})
	}
}

// record turns what write writes into a consumed record.
func record(t testing.TB, write func(*sarama.ProducerMessage) error) *sarama.ConsumerMessage {
	t.Helper()
	pm := &sarama.ProducerMessage{}
	if err := write(pm); err != nil {
		t.Fatal(err)
	}
	msg := &sarama.ConsumerMessage{Topic: "purchases"}
	if pm.Value != nil {
		v, err := pm.Value.Encode()
		if err != nil {
			t.Fatal(err)
		}
		msg.Value = v
	}
	for i := range pm.Headers {
		msg.Headers = append(msg.Headers, &pm.Headers[i])
	}
	return msg
}

// FuzzDecodeRecord: whenever readBinary takes a record, the SDK's binding
// reads the same purchase from it; a record the SDK refuses readBinary
// never takes.
func FuzzDecodeRecord(f *testing.F) {
	data := `{"username":"joe","userid":"005","price":"1195.30","timestamp":"2024-05-31T15:54:32.204Z"}`
	f.Add("1.0", "p-1", "/scalable-shop/cm-server", purchase.EventType, "005", "2024-05-31T15:54:32.204Z", "application/json", "", "", "", data)
	f.Add("1.0", "p-1", "/s", purchase.EventType, "", "", "application/json", "6f1c1a6e-4a54-4f3e-9d0b-5c6c7a0e2b1d", "c-1", "/c", data)
	f.Add("1.0", "p 1", "%zz", "other", "", "yesterday", "text/plain", "not-a-uuid", "c-1", "", `{"price":-1}`)
	f.Add("0.3", "", "", "", "", "", "application/cloudevents+json", "", "", "", "")
	// sources that parse but that the SDK reads as empty (found by fuzzing)
	for _, source := range []string{"#", "//", " "} {
		f.Add("1.0", "p-1", source, purchase.EventType, "", "", "application/json", "", "", "", data)
	}
	f.Fuzz(func(t *testing.T, spec, id, source, typ, subject, tm, ct, keyID, originID, originSource, data string) {
		msg := &sarama.ConsumerMessage{Topic: "purchases", Value: []byte(data)}
		for _, h := range [][2]string{{"ce_specversion", spec}, {"ce_id", id}, {"ce_source", source}, {"ce_type", typ},
			{"ce_subject", subject}, {"ce_time", tm}, {"content-type", ct}, {"ce_idempotencyid", keyID},
			{"ce_clienteventid", originID}, {"ce_clienteventsource", originSource}} {
			if h[1] != "" || h[0] == "ce_subject" && subject == "" && tm != "" {
				msg.Headers = append(msg.Headers, &sarama.RecordHeader{Key: []byte(h[0]), Value: []byte(h[1])})
			}
		}
		got, ok := readBinary(msg)
		if !ok {
			return
		}
		want, err := decodeWithSDK(context.Background(), msg)
		if err != nil {
			t.Fatalf("readBinary took a record the SDK refuses (%v): %v", err, msg.Headers)
		}
		if got != want {
			t.Errorf("readBinary: got %+v, the SDK %+v", got, want)
		}
	})
}

// FuzzReceiveBinary: whenever readBinaryHTTP takes a POSTed event, the
// SDK's HTTP binding reads the same purchase, id and traceparent from it;
// an event the SDK refuses readBinaryHTTP never takes.
func FuzzReceiveBinary(f *testing.F) {
	data := `{"username":"joe","userid":"005","price":"1195.30","timestamp":"2024-05-31T15:54:32.204Z"}`
	f.Add("1.0", "p-1", "/scalable-shop/cm-server", purchase.EventType, "005", "2024-05-31T15:54:32.204Z", "application/json", "", "", "",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "", data)
	f.Add("1.0", "p-1", "/s", purchase.EventType, "", "", "application/json", "6f1c1a6e-4a54-4f3e-9d0b-5c6c7a0e2b1d", "c-1", "/c", "", "Ce-Other", data)
	f.Add("1.0", "p 1", "%zz", "other", "", "yesterday", "text/plain", "not-a-uuid", "c-1", "", "", "X-Other", `{"price":-1}`)
	f.Add("0.3", "", "", "", "", "", "application/cloudevents+json", "", "", "", "", "", "")
	for _, source := range []string{"#", "//", " "} {
		f.Add("1.0", "p-1", source, purchase.EventType, "", "", "application/json", "", "", "", "", "", data)
	}
	f.Fuzz(func(t *testing.T, spec, id, source, typ, subject, tm, ct, keyID, originID, originSource, tp, extra, data string) {
		h := http.Header{}
		for _, kv := range [][2]string{{"Ce-Specversion", spec}, {"Ce-Id", id}, {"Ce-Source", source}, {"Ce-Type", typ},
			{"Ce-Subject", subject}, {"Ce-Time", tm}, {"Content-Type", ct}, {"Ce-Idempotencyid", keyID},
			{"Ce-Clienteventid", originID}, {"Ce-Clienteventsource", originSource}, {"Ce-Traceparent", tp}} {
			if kv[1] != "" {
				h.Set(kv[0], kv[1])
			}
		}
		if extra != "" {
			h.Set(extra, "x")
		}
		got, gotID, gotTP, ok := readBinaryHTTP(h, []byte(data))
		if !ok {
			return
		}
		e, err := binding.ToEvent(context.Background(), cehttp.NewMessage(h, io.NopCloser(strings.NewReader(data))))
		if err != nil {
			t.Fatalf("readBinaryHTTP took an event the SDK cannot read (%v): %v", err, h)
		}
		want, err := purchase.FromEvent(*e, time.Time{})
		if err != nil {
			t.Fatalf("readBinaryHTTP took an event the SDK refuses (%v): %v", err, h)
		}
		if got != want || gotID != e.ID() || gotTP != eventTraceParent(*e) {
			t.Errorf("readBinaryHTTP: got %+v %q %q, the SDK %+v %q %q", got, gotID, gotTP, want, e.ID(), eventTraceParent(*e))
		}
	})
}

// TestReadBinaryHTTPTakesWhatTheSourceSends: an event as the SDK's HTTP
// binding writes it (a KafkaSource posting cm-server's event) is read
// without the SDK.
func TestReadBinaryHTTPTakesWhatTheSourceSends(t *testing.T) {
	t.Parallel()
	p := purchase.Purchase{ID: "0190c5d4-7e1a-7b3c-9f00-0123456789ab", Username: "joe", UserID: "005", Price: 119530,
		Timestamp: time.Date(2024, 5, 31, 15, 54, 32, 204e6, time.UTC), KeyID: "6f1c1a6e-4a54-4f3e-9d0b-5c6c7a0e2b1d"}
	e := purchase.NewEvent(p, "/scalable-shop/cm-server")
	e.SetExtension("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req, err := http.NewRequest(http.MethodPost, "http://cm-api/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), req); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, id, tp, ok := readBinaryHTTP(req.Header, body)
	if !ok {
		t.Fatalf("readBinaryHTTP: not taken for %v", req.Header)
	}
	if got != p || id != p.ID || tp != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Errorf("got %+v %q %q, want %+v with its id and traceparent", got, id, tp, p)
	}
}
