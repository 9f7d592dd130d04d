package shopctl

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// FuzzParseDeadLetter feeds parseDeadLetter records of any value and header
// values: it never panics, and a record it cannot read as a purchase event
// says why.
func FuzzParseDeadLetter(f *testing.F) {
	f.Add([]byte(`{"username":"a","userid":"b","price":"1"}`), "1.0", "io.scalableshop.purchase.created.v1", "id-1", "purchase id already used", "7", "422", "eyJtZXNzYWdlIjoieCJ9")
	f.Add([]byte("garbage"), "", "", "", "", "x", "", "%%%")
	f.Fuzz(func(t *testing.T, value []byte, spec, typ, id, reason, offset, code, data string) {
		var headers []*sarama.RecordHeader
		add := func(k, v string) {
			if v != "" {
				headers = append(headers, &sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
			}
		}
		add("ce_specversion", spec)
		add("ce_type", typ)
		add("ce_id", id)
		add("ce_source", "/fuzz")
		add("dlq-reason", reason)
		add("dlq-original-offset", offset)
		add("ce_knativeerrorcode", code)
		add("ce_knativeerrordata", data)
		msg := &sarama.ConsumerMessage{Topic: "dlq", Value: value, Headers: headers, Timestamp: time.Unix(0, 0)}
		d := parseDeadLetter(context.Background(), msg)
		if d.Invalid == "" && d.PurchaseID == "" {
			t.Errorf("got a valid purchase without an id from %q %v", value, headers)
		}
	})
}
