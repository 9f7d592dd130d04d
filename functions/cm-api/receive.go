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

// handleReceive stores one purchase CloudEvent, as a KafkaSource delivers
// it. It answers 2xx only after the write was acknowledged; 400 for an event
// that can never be stored and 422 for one the store refuses for good (not
// retried: it goes to the dead-letter sink); 503 for a store failure
// (retried by the source), at once while the gate says the store is down.
func handleReceive(log *slog.Logger, saves *batcher, gate *storeGate, m *shopMetrics, writeTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := server.ReadBody(w, r, maxEventBody)
		if err != nil {
			server.Fail(w, r, log, err)
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
		ctx, span := startEventSpan(r.Context(), *e)
		saveAndAnswer(ctx, w, r, log, saves, gate, m, span, p, writeTimeout)
	})
}

// saveAndAnswer saves p in the span of its event and answers: 200 once the write
// was acknowledged, or the store's problem. The write is finished even if
// the sender hangs up: it is cheap, and a retry then finds it stored.
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

// eventTraceParent is the event's distributed-tracing extension, if any.
func eventTraceParent(e event.Event) string {
	tp, _ := e.Extensions()[telemetry.TraceParentExtension].(string)
	return tp
}

// storeProblem maps a store error: a conflicting id is a bad event (400); a
// purchase the store refuses for good is 422 with the store's reason (code,
// name, message cut short); anything else is transient (503, retry). 400
// and 422 are answers a KafkaSource does not retry: it sends the event to
// its dead-letter sink at once. It retries >= 500, 404, 408, 409 and 429
// (eventing-kafka-broker knative-v1.23.0,
// data-plane/dispatcher/src/main/java/dev/knative/eventing/kafka/broker/dispatcher/impl/http/WebClientCloudEventSender.java,
// isRetryableStatusCode).
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
