package main

import (
	"context"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// The header keys of a binary-mode record, as the SDK's Kafka binding names
// them (kafka_sarama: "ce_" and the attribute's name, "content-type").
// Shared by every record: sarama only reads them.
var (
	keySpecVersion = []byte("ce_specversion")
	keyID          = []byte("ce_id")
	keySource      = []byte("ce_source")
	keyType        = []byte("ce_type")
	keySubject     = []byte("ce_subject")
	keyTime        = []byte("ce_time")
	keyContentType = []byte("content-type")
	extensionKeys  = map[string][]byte{}
)

func init() {
	for _, ext := range []string{purchase.PartitionKeyExtension, purchase.KeyIDExtension, purchase.OriginIDExtension,
		purchase.OriginSourceExtension, "traceparent", "tracestate"} {
		extensionKeys[ext] = []byte("ce_" + ext)
	}
}

// writeRecord fills pm with e as a binary-mode record: what
// kafka_sarama.WriteProducerMessage writes (the same headers and values,
// the partitionkey extension as the key, the data as the value), with a
// fraction of its allocations: the header values share one buffer. It
// writes the CloudEvents 1.0 events cm-server makes directly, and any other
// event (a data schema, a non-string extension) through the binding.
// TestWriteRecordIsTheBindings holds the two equal.
func writeRecord(ctx context.Context, e *event.Event, pm *sarama.ProducerMessage) error {
	c, ok := e.Context.(*event.EventContextV1)
	if !ok || c.DataSchema != nil {
		return kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(e), pm)
	}
	size := len(event.CloudEventsVersionV1) + len(c.ID) + len(c.Type) + len(time.RFC3339Nano)
	for _, v := range c.Extensions {
		s, ok := v.(string)
		if !ok {
			return kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(e), pm)
		}
		size += len(s)
	}
	if c.Subject != nil {
		size += len(*c.Subject)
	}
	if c.DataContentType != nil {
		size += len(*c.DataContentType)
	}
	r := recordHeaders{h: make([]sarama.RecordHeader, 0, 7+len(c.Extensions)), buf: make([]byte, 0, size)}
	r.add(keySpecVersion, event.CloudEventsVersionV1)
	r.add(keyID, c.ID)
	r.h = append(r.h, sarama.RecordHeader{Key: keySource, Value: sourceText(&c.Source)})
	r.add(keyType, c.Type)
	if c.Subject != nil {
		r.add(keySubject, *c.Subject)
	}
	if c.Time != nil {
		start := len(r.buf)
		r.buf = c.Time.Time.UTC().AppendFormat(r.buf, time.RFC3339Nano) // types.FormatTime
		r.h = append(r.h, sarama.RecordHeader{Key: keyTime, Value: r.buf[start:len(r.buf):len(r.buf)]})
	}
	if c.DataContentType != nil {
		r.add(keyContentType, *c.DataContentType)
	}
	pm.Key = nil
	for name, v := range c.Extensions {
		s := v.(string)
		key, ok := extensionKeys[name]
		if !ok {
			key = []byte("ce_" + name)
		}
		r.add(key, s)
		if name == purchase.PartitionKeyExtension && s != "" {
			pm.Key = sarama.StringEncoder(s)
		}
	}
	pm.Headers = r.h
	pm.Value = nil
	if e.DataEncoded != nil {
		pm.Value = sarama.ByteEncoder(e.DataEncoded)
	}
	return nil
}

// recordHeaders collects a record's headers, their values in one buffer.
type recordHeaders struct {
	h   []sarama.RecordHeader
	buf []byte
}

// add appends the header key: value. A value is capped at its own length,
// so a later append to the buffer never writes into it.
func (r *recordHeaders) add(key []byte, value string) {
	start := len(r.buf)
	r.buf = append(r.buf, value...)
	r.h = append(r.h, sarama.RecordHeader{Key: key, Value: r.buf[start:len(r.buf):len(r.buf)]})
}

// lastSource is the source last written as a header, with its text: every
// event cm-server makes has the same source, and URIRef.String builds the
// text anew on each call. The value is shared by records: sarama only
// reads it.
var lastSource atomic.Pointer[sourceHeader]

type sourceHeader struct {
	uri  url.URL
	text []byte
}

// sourceText is the source's text, as types.URIRef.String writes it.
func sourceText(src *types.URIRef) []byte {
	if last := lastSource.Load(); last != nil && last.uri == src.URL {
		return last.text
	}
	s := &sourceHeader{uri: src.URL, text: []byte(src.String())}
	lastSource.Store(s)
	return s.text
}
