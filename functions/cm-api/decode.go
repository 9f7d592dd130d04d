package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// decodeRecord reads a record's purchase: readBinary when it can vouch for
// the record, else the SDK's Kafka binding, whose verdict stands.
func decodeRecord(ctx context.Context, msg *sarama.ConsumerMessage) (purchase.Purchase, error) {
	if p, ok := readBinary(msg); ok {
		return p, nil
	}
	return decodeWithSDK(ctx, msg)
}

// decodeWithSDK reads a record's purchase through the SDK's Kafka binding.
func decodeWithSDK(ctx context.Context, msg *sarama.ConsumerMessage) (purchase.Purchase, error) {
	m := kafka_sarama.NewMessageFromConsumerMessage(msg)
	if m.ReadEncoding() == binding.EncodingUnknown {
		return purchase.Purchase{}, errors.New("not a CloudEvent")
	}
	e, err := binding.ToEvent(ctx, m)
	if err != nil {
		return purchase.Purchase{}, fmt.Errorf("not a valid CloudEvent: %w", err)
	}
	return purchase.FromEvent(*e, time.Time{})
}

// The attributes and extensions of a binary-mode purchase event: the
// indexes of binaryEvent's values.
const (
	atSpecVersion = iota
	atID
	atSource
	atType
	atSubject
	atTime
	atContentType
	atPartitionKey
	atTraceParent
	atKeyID
	atOriginID
	atOriginSource
	atCount
)

// kafkaHeaders name them as the CloudEvents Kafka protocol binding does.
var kafkaHeaders = map[string]int{"ce_specversion": atSpecVersion, "ce_id": atID, "ce_source": atSource,
	"ce_type": atType, "ce_subject": atSubject, "ce_time": atTime, "content-type": atContentType,
	"ce_" + purchase.PartitionKeyExtension: atPartitionKey, "ce_traceparent": atTraceParent,
	"ce_" + purchase.KeyIDExtension: atKeyID, "ce_" + purchase.OriginIDExtension: atOriginID,
	"ce_" + purchase.OriginSourceExtension: atOriginSource}

// httpHeaders name them as Go's server canonicalizes the HTTP binding's
// headers ("Ce-" and the name, "Content-Type").
var httpHeaders = func() map[string]int {
	m := make(map[string]int, len(kafkaHeaders))
	for k, i := range kafkaHeaders {
		name, ok := strings.CutPrefix(k, "ce_")
		if ok {
			name = "ce-" + name
		}
		m[http.CanonicalHeaderKey(name)] = i
	}
	return m
}()

// binaryEvent is what readBinary and readBinaryHTTP gather from headers.
type binaryEvent struct {
	seen [atCount]bool
	val  [atCount]string
}

// set notes value for the attribute at i; false when it came twice.
func (b *binaryEvent) set(i int, value string) bool {
	if b.seen[i] {
		return false
	}
	b.seen[i], b.val[i] = true, value
	return true
}

// purchase is the event's purchase with data, when the attributes pass the
// rules event.Validate applies to them and the purchase is valid.
func (b *binaryEvent) purchase(data []byte) (purchase.Purchase, bool) {
	v := &b.val
	if v[atSpecVersion] != "1.0" || v[atID] == "" || v[atSource] == "" || v[atType] == "" ||
		v[atContentType] != "application/json" || (b.seen[atSubject] && v[atSubject] == "") {
		return purchase.Purchase{}, false
	}
	// The SDK wants the source's URL to print non-blank
	// (event.EventContextV1.Validate): "#" parses but prints "".
	if u, err := url.Parse(v[atSource]); err != nil || strings.TrimSpace(u.String()) == "" {
		return purchase.Purchase{}, false
	}
	if b.seen[atTime] {
		if _, err := time.Parse(time.RFC3339Nano, v[atTime]); err != nil {
			return purchase.Purchase{}, false
		}
	}
	p, err := purchase.FromAttributes(purchase.Attributes{ID: v[atID], Type: v[atType], DataContentType: v[atContentType],
		Data: data, KeyID: v[atKeyID], OriginID: v[atOriginID], OriginSource: v[atOriginSource]}, time.Time{})
	return p, err == nil
}

// readBinary reads a binary-mode purchase record without the SDK's event
// (docs/performance.md, "Fast paths: measured and decided"). It answers ok
// only when every header is one it knows, none twice, and the event passes
// binaryEvent.purchase; the purchase is then decodeWithSDK's
// (FuzzDecodeRecord).
func readBinary(msg *sarama.ConsumerMessage) (purchase.Purchase, bool) {
	var b binaryEvent
	for _, h := range msg.Headers {
		if h == nil {
			return purchase.Purchase{}, false
		}
		i, known := kafkaHeaders[string(h.Key)]
		if !known || !b.set(i, string(h.Value)) {
			return purchase.Purchase{}, false
		}
	}
	return b.purchase(msg.Value)
}

// readBinaryHTTP is readBinary for an event POSTed in binary mode, as a
// KafkaSource delivers cm-server's (docs/performance.md, "Fast paths:
// measured and decided"): ok only when every Ce- header is one it knows,
// each with one value, and binaryEvent.purchase vouches for the event; the
// purchase, id and traceparent are then the SDK's HTTP binding's
// (FuzzReceiveBinary). Other headers are ignored, as the binding ignores them.
func readBinaryHTTP(h http.Header, body []byte) (p purchase.Purchase, id, traceparent string, ok bool) {
	var b binaryEvent
	for k, vs := range h {
		i, known := httpHeaders[k]
		if !known {
			if len(k) >= 3 && strings.EqualFold(k[:3], "ce-") {
				return p, "", "", false
			}
			continue
		}
		if len(vs) != 1 || !b.set(i, vs[0]) {
			return p, "", "", false
		}
	}
	p, ok = b.purchase(body)
	return p, b.val[atID], b.val[atTraceParent], ok
}
