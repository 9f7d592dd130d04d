package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// decodeRecord reads a record's purchase. A binary-mode record as
// cm-server and the KafkaSink write it is read straight from its headers
// (readBinary); anything else, and any record readBinary cannot vouch for,
// goes through the SDK's Kafka binding, whose verdict and error stand.
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

// The headers of a binary-mode purchase record (the binding's "ce_" prefix
// and attribute names, CloudEvents Kafka protocol binding 3.2.1).
const (
	hdrSpecVersion  = "ce_specversion"
	hdrID           = "ce_id"
	hdrSource       = "ce_source"
	hdrType         = "ce_type"
	hdrSubject      = "ce_subject"
	hdrTime         = "ce_time"
	hdrContentType  = "content-type"
	hdrPartitionKey = "ce_" + purchase.PartitionKeyExtension
	hdrTraceParent  = "ce_traceparent"
	hdrKeyID        = "ce_" + purchase.KeyIDExtension
	hdrOriginID     = "ce_" + purchase.OriginIDExtension
	hdrOriginSource = "ce_" + purchase.OriginSourceExtension
)

// readBinary reads a binary-mode purchase record without the SDK's event
// (which costs some 80 allocations a record). It answers ok only for a
// record it can vouch for: every header one it knows, none twice, spec
// version 1.0, content type application/json, id, source and type present,
// the source a URI reference and the time RFC 3339 (the rules
// event.Validate applies to these attributes), and a valid purchase. Then
// the purchase is the one decodeWithSDK reads (FuzzDecodeRecord compares
// the two); in every other case ok is false and the SDK decides.
func readBinary(msg *sarama.ConsumerMessage) (p purchase.Purchase, ok bool) {
	var a purchase.Attributes
	var spec, source, typ, subject, tm string
	var seen [12]bool
	for _, h := range msg.Headers {
		if h == nil {
			return p, false
		}
		i, dst := headerSlot(string(h.Key), &a, &spec, &source, &typ, &subject, &tm)
		if i < 0 || seen[i] {
			return p, false
		}
		seen[i] = true
		if dst != nil {
			*dst = string(h.Value)
		}
	}
	if spec != "1.0" || a.ID == "" || source == "" || typ == "" || a.DataContentType != "application/json" ||
		(seen[4] && subject == "") {
		return p, false
	}
	if _, err := url.Parse(source); err != nil {
		return p, false
	}
	if seen[5] {
		if _, err := time.Parse(time.RFC3339Nano, tm); err != nil {
			return p, false
		}
	}
	a.Type, a.Data = typ, msg.Value
	p, err := purchase.FromAttributes(a, time.Time{})
	return p, err == nil
}

// headerSlot says which known header key is (its index; -1: unknown) and
// where its value goes (nil: nowhere, it is checked for presence only).
func headerSlot(key string, a *purchase.Attributes, spec, source, typ, subject, tm *string) (int, *string) {
	switch key {
	case hdrSpecVersion:
		return 0, spec
	case hdrID:
		return 1, &a.ID
	case hdrSource:
		return 2, source
	case hdrType:
		return 3, typ
	case hdrSubject:
		return 4, subject
	case hdrTime:
		return 5, tm
	case hdrContentType:
		return 6, &a.DataContentType
	case hdrPartitionKey:
		return 7, nil
	case hdrTraceParent:
		return 8, nil
	case hdrKeyID:
		return 9, &a.KeyID
	case hdrOriginID:
		return 10, &a.OriginID
	case hdrOriginSource:
		return 11, &a.OriginSource
	}
	return -1, nil
}
