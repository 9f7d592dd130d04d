package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

const (
	// maxBuyBody bounds a purchase body; a real one is about 120 bytes.
	maxBuyBody = 64 << 10
	// An oversized body is drained up to maxBuyDrain more bytes, for at most
	// buyDrainTime, so that a client that sends it all before reading gets
	// the 413 (server.DrainOversized).
	maxBuyDrain  = 8 << 20
	buyDrainTime = 5 * time.Second
	// maxIdempotencyKey bounds the Idempotency-Key header.
	maxIdempotencyKey = 255
)

// The namespaces of the UUIDs derived from Idempotency-Key headers and from
// a client's CloudEvent source and id.
var (
	idempotencyNamespace = uuid.MustParse("6f1c1a6e-4a54-4f3e-9d0b-5c6c7a0e2b1d")
	eventNamespace       = uuid.MustParse("3b2f8c1e-0d7a-4c55-8e1f-9a6b4d2c7e10")
)

// buyResponse is the answer to an acknowledged purchase.
type buyResponse struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	ID      string `json:"id"`
}

// handleBuy accepts a purchase (JSON, or a CloudEvent in binary or
// structured mode) and answers "Ok!" only after the event was acknowledged.
func handleBuy(log *slog.Logger, snd sender, keys claimer, source string, timeout time.Duration) http.Handler {
	var busy keysInFlight
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, retryKey, err := readPurchase(w, r, time.Now())
		if err == nil {
			err = authorize(r, p.Username, false)
		}
		if err != nil {
			server.Fail(w, r, log, err)
			return
		}
		// A purchase with a key (an Idempotency-Key, or a CloudEvent's
		// source and id) is sent only once its key is claimed for it in
		// the store: one atomic step across every replica (claimPurchase).
		if key := claimKey(p); key != "" {
			if !busy.claim(key) {
				server.Fail(w, r, log, &server.Problem{Status: http.StatusConflict, RetryAfter: time.Second,
					Message: "a request with this Idempotency-Key (or CloudEvent source and id) is in progress; retry once it is answered"})
				return
			}
			defer busy.release(key)
			stored, err := claimPurchase(r.Context(), keys, key, p)
			if err != nil {
				server.Fail(w, r, log, err)
				return
			}
			if stored {
				server.Encode(w, http.StatusAccepted, buyResponse{server.StatusOK, "Message successfully sent to Kafka!", p.ID})
				return
			}
		}
		e := purchase.NewEvent(p, source)
		// The send is bounded by timeout alone: a client that goes away
		// does not cut a purchase short half-way to the broker or the sink
		// (its answer is lost, the purchase's fate is not left unknown).
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), timeout)
		defer cancel()
		if err := snd.Send(ctx, e); err != nil {
			failSend(w, r, log, p, retryKey, err)
			return
		}
		log.DebugContext(ctx, "purchase sent", "purchase_id", p.ID, "userid", p.UserID)
		server.Encode(w, http.StatusAccepted, buyResponse{server.StatusOK, "Message successfully sent to Kafka!", p.ID})
	})
}

// readPurchase turns a /buy request into a Purchase. A CloudEvent keeps its
// own id; a plain JSON purchase gets an id derived from its Idempotency-Key,
// or, without one, from a fresh key of cm-server's choosing, which it
// returns: the key a retry of this purchase must send.
func readPurchase(w http.ResponseWriter, r *http.Request, now time.Time) (p purchase.Purchase, retryKey string, err error) {
	body, err := server.ReadBody(w, r, maxBuyBody)
	if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
		server.DrainOversized(w, r, maxBuyDrain, buyDrainTime)
	}
	if err != nil {
		return purchase.Purchase{}, "", err
	}
	media := mediaType(r.Header.Get("Content-Type"))
	switch {
	case r.Header.Get("Ce-Specversion") != "" || media == "application/cloudevents+json":
		p, err := readEvent(r, body, now)
		return p, "", err
	case media != "" && media != "application/json":
		return purchase.Purchase{}, "", &server.Problem{Status: http.StatusUnsupportedMediaType,
			Message: "Content-Type must be application/json or a CloudEvent"}
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return purchase.Purchase{}, "", err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return purchase.Purchase{}, "", err
	}
	if p, err = purchase.Parse(id.String(), body, now); err != nil {
		return purchase.Purchase{}, "", err
	}
	// The same key and purchase from the same user is the same purchase:
	// same id, so cm-api stores it once, whatever happened to the first
	// attempt. The same key with another purchase is another id. A purchase
	// without a key gets its id from a new key that is not claimed (it
	// needs no cm-api): a 503 hands that key to the client, and a retry with
	// it is this purchase, even when the first attempt is stored late.
	if key != "" {
		p.KeyID, p.ID = keyIDs(key, p)
		return p, key, nil
	}
	p.ID = keyPurchaseID(id.String(), p)
	return p, id.String(), nil
}

// sendFailed is the 503 for a purchase whose send failed: the error shape
// plus the Idempotency-Key a retry must send.
type sendFailed struct {
	server.ErrorBody
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// failSend answers a send that was not acknowledged. The purchase may still
// be stored (the sink or broker may write it after the send gave up), so
// the answer says how to retry this same purchase: with the key its id came
// from (in the Idempotency-Key header and idempotency_key), or for a
// CloudEvent, the same event.
func failSend(w http.ResponseWriter, r *http.Request, log *slog.Logger, p purchase.Purchase, retryKey string, err error) {
	log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.Int("status", http.StatusServiceUnavailable),
		slog.String("purchase_id", p.ID), slog.Any("err", err))
	msg := "the purchase could not be sent to Kafka and may still be stored: retry the same event (same source and id)"
	if retryKey != "" {
		msg = "the purchase could not be sent to Kafka and may still be stored: retry the same body with Idempotency-Key: " + retryKey
		w.Header().Set("Idempotency-Key", retryKey)
	}
	w.Header().Set("Retry-After", "1")
	server.Encode(w, http.StatusServiceUnavailable, sendFailed{
		ErrorBody: server.ErrorBody{Status: "Error", Message: msg}, IdempotencyKey: retryKey})
}

// mediaType is the media type of a Content-Type header: "" when there is
// none, "unparsable" when it does not parse. Exact "application/json"
// skips the parser, which allocates a map per call.
func mediaType(ct string) string {
	if ct == "" || ct == "application/json" {
		return ct
	}
	media, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "unparsable"
	}
	return media
}

// readEvent reads a purchase sent as a CloudEvent. CloudEvents makes
// (source, id) unique, not id, so the purchase id is a UUID of both; the
// client's id and source are kept with the purchase.
func readEvent(r *http.Request, body []byte, now time.Time) (purchase.Purchase, error) {
	msg := cehttp.NewMessage(r.Header, io.NopCloser(bytes.NewReader(body)))
	e, err := binding.ToEvent(r.Context(), msg)
	if err != nil {
		return purchase.Purchase{}, server.BadRequest("event", "not a valid CloudEvent")
	}
	// The event's time stands in for a missing timestamp: check it the same.
	if !e.Time().IsZero() {
		if err := purchase.CheckTime(e.Time()); err != nil {
			return purchase.Purchase{}, server.BadRequest("time", err.Error())
		}
		now = e.Time()
	}
	if len(e.Source()) > purchase.MaxSourceLen {
		return purchase.Purchase{}, server.BadRequest("source", fmt.Sprintf("must be at most %d bytes", purchase.MaxSourceLen))
	}
	// Only cm-server sets these extensions: a key id of the client's
	// choosing could answer another's key 422. (Nil deletes.)
	for _, ext := range []string{purchase.OriginIDExtension, purchase.OriginSourceExtension, purchase.KeyIDExtension} {
		e.SetExtension(ext, nil)
	}
	p, err := purchase.FromEvent(*e, now)
	if err != nil {
		return purchase.Purchase{}, err
	}
	p.Origin = purchase.Origin{EventID: e.ID(), EventSource: e.Source()}
	p.ID = eventPurchaseID(p.Origin)
	return p, nil
}

// eventPurchaseID is the purchase id of a client's CloudEvent. The source
// goes first with its length, so no (source, id) pair names another's.
func eventPurchaseID(o purchase.Origin) string {
	return uuid.NewSHA1(eventNamespace, fmt.Appendf(nil, "%d:%s%s", len(o.EventSource), o.EventSource, o.EventID)).String()
}

// idempotencyKey returns the Idempotency-Key header, checked.
func idempotencyKey(r *http.Request) (string, error) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey || strings.ContainsFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return "", server.BadRequest("Idempotency-Key", "must be 1 to 255 visible ASCII characters")
	}
	return key, nil
}
