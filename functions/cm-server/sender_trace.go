package main

import (
	"context"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// tracingSender makes each Send a producer span and sends that span's
// context with the event, as its traceparent extension (the ce_traceparent
// Kafka header), so cm-api's consumer span continues the purchase's trace.
// Through a KafkaSink the record still goes to Kafka: the span says so in
// shop.transport.
type tracingSender struct {
	sender
	topic     string
	transport string // "kafka" or "http" (to the KafkaSink in K_SINK)
}

func (t tracingSender) Send(ctx context.Context, e event.Event) error {
	via := "kafka"
	if t.transport == "http" {
		via = "knative-kafkasink"
	}
	ctx, span := telemetry.StartSend(ctx, telemetry.Message{Topic: t.topic, ID: e.ID(), Partition: -1, Offset: -1, Via: via})
	if tp := telemetry.TraceParent(ctx); tp != "" {
		e.SetExtension(telemetry.TraceParentExtension, tp)
	}
	err := t.sender.Send(ctx, e)
	telemetry.End(span, err)
	return err
}
