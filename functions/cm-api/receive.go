package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.opentelemetry.io/otel/trace"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// errStoreDown is why POST / is turned away while the store gate is closed.
var errStoreDown = errors.New("the purchase store is down")

// maxEventBody bounds an incoming event; a purchase event is a few hundred bytes.
const maxEventBody = 256 << 10

// receiveResponse is the answer to a stored (or already stored) event.
type receiveResponse struct {
	Status    string `json:"status"`
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
}

// handleReceive stores one purchase CloudEvent a KafkaSource delivers. It
// answers 2xx only after the write was acknowledged; 400 for an event that
// can never be stored, 422 for one the store refuses for good (neither is
// retried: it goes to the dead-letter sink); 503 for a store failure (retried
// by the source), at once while the gate says the store is down.
func handleReceive(log *slog.Logger, saves *batcher, gate *storeGate, m *shopMetrics, writeTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := server.ReadBody(w, r, maxEventBody)
		if err != nil {
			server.Fail(w, r, log, err)
			return
		}
		if p, id, tp, ok := readBinaryHTTP(r.Header, body); ok {
			if gate.Closed() {
				server.Fail(w, r, log, storeProblem(errStoreDown))
				return
			}
			ctx, span := startEventSpan(r.Context(), id, tp)
			saveAndAnswer(ctx, w, r, log, saves, gate, m, span, p, writeTimeout)
			return
		}
		msg := cehttp.NewMessage(r.Header, io.NopCloser(bytes.NewReader(body)))
		if msg.ReadEncoding() == binding.EncodingUnknown {
			server.Fail(w, r, log, &server.Problem{Status: http.StatusUnsupportedMediaType,
				Message: "expected a CloudEvent in binary or structured mode"})
			return
		}
		e, err := binding.ToEvent(r.Context(), msg)
		if err != nil {
			server.Fail(w, r, log, server.BadRequest("event", "not a valid CloudEvent"))
			return
		}
		p, err := purchase.FromEvent(*e, time.Time{})
		if err != nil {
			m.events.WithLabelValues("rejected").Inc()
			log.Warn("rejected event", "ce_id", e.ID(), "ce_type", e.Type(), "err", err)
			server.Fail(w, r, log, err)
			return
		}
		if gate.Closed() {
			server.Fail(w, r, log, storeProblem(errStoreDown))
			return
		}
		ctx, span := startEventSpan(r.Context(), e.ID(), eventTraceParent(*e))
		saveAndAnswer(ctx, w, r, log, saves, gate, m, span, p, writeTimeout)
	})
}

// saveAndAnswer saves p in its event's span and answers 200, or the store's
// problem. The write goes on if the sender hangs up: a retry finds it stored.
func saveAndAnswer(ctx context.Context, w http.ResponseWriter, r *http.Request, log *slog.Logger, saves *batcher, gate *storeGate,
	m *shopMetrics, span trace.Span, p purchase.Purchase, writeTimeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	dup, err := saves.Save(ctx, p)
	telemetry.End(span, err)
	switch {
	case errors.Is(err, errConflict):
		m.events.WithLabelValues("rejected").Inc()
	case errors.Is(err, errRefused):
		m.events.WithLabelValues("refused").Inc()
		log.WarnContext(ctx, "purchase refused by the store", "purchase_id", p.ID, "reason", err.Error())
	}
	if err != nil {
		problem := storeProblem(err)
		if sp := (*server.Problem)(nil); errors.As(problem, &sp) && sp.Status == http.StatusServiceUnavailable {
			gate.Failed()
		}
		server.Fail(w, r, log, problem)
		return
	}
	log.DebugContext(ctx, "purchase stored", "purchase_id", p.ID, "duplicate", dup)
	server.Encode(w, http.StatusOK, receiveResponse{server.StatusOK, p.ID, dup})
}

// startEventSpan starts the consumer span of the event id a KafkaSource
// delivered, in the trace of its traceparent tp.
func startEventSpan(ctx context.Context, id, tp string) (context.Context, trace.Span) {
	return telemetry.StartProcess(ctx, telemetry.Message{ID: id, Partition: -1, Offset: -1,
		Via: "knative-kafkasource"}, tp)
}

// eventTraceParent is the event's traceparent extension, if any.
func eventTraceParent(e event.Event) string {
	tp, _ := e.Extensions()[telemetry.TraceParentExtension].(string)
	return tp
}

// storeProblem maps a store error: a conflicting id is 400, a refusal 422
// with the store's reason, anything else 503. A KafkaSource dead-letters a
// 400 or 422 at once and retries 503 (eventing-kafka-broker
// knative-v1.23.0, WebClientCloudEventSender.java, isRetryableStatusCode).
func storeProblem(err error) error {
	if errors.Is(err, errConflict) {
		return &server.Problem{Status: http.StatusBadRequest, Message: errConflict.Error(),
			Fields: map[string]string{"id": "already used by a different purchase"}}
	}
	if r := (*refusal)(nil); errors.As(err, &r) {
		return &server.Problem{Status: http.StatusUnprocessableEntity, Message: r.Error()}
	}
	var p *server.Problem
	if errors.As(err, &p) {
		return err
	}
	return &server.Problem{Status: http.StatusServiceUnavailable, Message: "the purchase store is unavailable",
		RetryAfter: time.Second, Err: err}
}
