package main

import (
	"context"
	"errors"
	"fmt"
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

// binaryEvent is what readBinary gathers from headers.
type binaryEvent struct {
	seen [atCount]bool
	val  [atCount]string
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
		if !known || b.seen[i] {
			return purchase.Purchase{}, false
		}
		b.seen[i], b.val[i] = true, string(h.Value)
	}
	return b.purchase(msg.Value)
}
