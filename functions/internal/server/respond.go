// Package server holds what both functions' HTTP servers share: one way of
// writing JSON and errors, request limits, health endpoints, middleware and
// the listen-serve-drain lifecycle of the Knative runtime contract.
package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// StatusOK is the status word of every successful JSON answer.
const StatusOK = "Ok!"

// ErrorBody is the JSON shape of every error answer.
type ErrorBody struct {
	Status  string            `json:"status"`
	Message string            `json:"message"`
	Errors  map[string]string `json:"errors,omitempty"`
}

// Problem is an error that knows how it should be answered. Handlers return
// or build Problems; Fail turns them into responses.
type Problem struct {
	Status     int
	Message    string
	Fields     map[string]string
	RetryAfter time.Duration
	Err        error // the cause, logged for 5xx, never shown
}

func (p *Problem) Error() string {
	if p.Err != nil {
		return fmt.Sprintf("%s: %v", p.Message, p.Err)
	}
	return p.Message
}

func (p *Problem) Unwrap() error { return p.Err }

// BadRequest is a 400 Problem naming one field.
func BadRequest(field, problem string) *Problem {
	return &Problem{Status: http.StatusBadRequest, Message: "invalid " + field, Fields: map[string]string{field: problem}}
}

// Encode writes v as JSON with the given status.
func Encode(w http.ResponseWriter, status int, v any) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	// The connection may be gone; there is no one left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

// jsonContentType is every JSON answer's Content-Type, shared rather than
// allocated per answer (Header.Set would): its capacity is its length, so
// an Add appends to a copy, never to it.
var jsonContentType = []string{"application/json"}

// InvalidInput is an error about what a client sent, field by field: a
// domain package's validation error implements it, and Fail answers it 400
// naming each field.
type InvalidInput interface {
	error
	InvalidFields() map[string]string
}

// Fail answers err. This is the one place where errors become statuses:
// InvalidInput -> 400 with fields, an oversized body -> 413, a *Problem ->
// its own status, anything else -> 500 with a generic message and the cause
// logged. 5xx Problems are logged with their cause too.
func Fail(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var (
		invalid InvalidInput
		tooBig  *http.MaxBytesError
		problem *Problem
	)
	switch {
	case errors.As(err, &invalid):
		problem = &Problem{Status: http.StatusBadRequest, Message: invalid.Error(), Fields: invalid.InvalidFields()}
	case errors.As(err, &tooBig):
		problem = &Problem{Status: http.StatusRequestEntityTooLarge,
			Message: "request body is larger than " + strconv.FormatInt(tooBig.Limit, 10) + " bytes"}
	case errors.As(err, &problem):
	default:
		problem = &Problem{Status: http.StatusInternalServerError, Message: "internal error", Err: err}
	}
	if problem.Status >= 500 {
		log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", problem.Status), slog.Any("err", err))
	}
	if problem.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((problem.RetryAfter+time.Second-1)/time.Second)))
	}
	Encode(w, problem.Status, ErrorBody{Status: "Error", Message: problem.Message, Errors: problem.Fields})
}

// ReadBody reads at most limit bytes of the request body. A larger body is an
// *http.MaxBytesError, which Fail answers with 413. A body that breaks off
// (the connection failed or timed out mid-body) is 408: nothing is wrong
// with what was sent, so the sender should send it again, and 408 is among
// the answers a KafkaSource retries (a 400 would dead-letter the purchase).
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err
		}
		return nil, &Problem{Status: http.StatusRequestTimeout,
			Message: "could not read the whole request body; send it again", Err: err}
	}
	return body, nil
}

// DrainOversized reads and discards what is left of a request body that
// ReadBody found too large, up to limit more bytes and for at most d, then
// marks the connection to close after the answer. A client that does not
// send "Expect: 100-continue" (Python's urllib and requests) writes its
// whole body before it reads the answer; closing while its bytes are still
// arriving makes the kernel reset the connection, and the client sees
// "connection reset" instead of the 413. A body still larger than limit,
// or still arriving after d, is cut off: the server's memory and time stay
// bounded, only the bytes pass through.
func DrainOversized(w http.ResponseWriter, r *http.Request, limit int64, d time.Duration) {
	w.Header().Set("Connection", "close")
	// Not every ResponseWriter has a read deadline (httptest's does not):
	// then ReadTimeout of the server bounds the drain.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
	// An error or a short count only ends the drain early.
	_, _ = io.CopyN(io.Discard, r.Body, limit)
}

// unmatched captures what ServeMux answers for a request no route takes.
// Kept, not replaced by a router library: ServeMux has no hook for its own
// 404 and 405 answers, and capturing them keeps its matching rules (and its
// Allow and Location headers) while the body becomes the JSON error shape.
type unmatched struct {
	header http.Header
	status int
}

func (u *unmatched) Header() http.Header         { return u.header }
func (u *unmatched) Write(b []byte) (int, error) { return len(b), nil }
func (u *unmatched) WriteHeader(code int)        { u.status = code }

// Handler serves mux and answers what no route takes (404, or 405 with the
// Allow header) in the JSON error shape, then wraps it all in Middleware and
// a server span per request (telemetry.ServerSpans).
func Handler(log *slog.Logger, obs Observer, mux *http.ServeMux) http.Handler {
	return telemetry.ServerSpans(Middleware(log, obs, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		telemetry.AnswerTraceParent(w, r)
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		u := &unmatched{header: http.Header{}, status: http.StatusNotFound}
		mux.ServeHTTP(u, r)
		msg := "no route for " + r.Method + " " + r.URL.Path
		if loc := u.header.Get("Location"); loc != "" {
			// ServeMux redirects to the cleaned path; keep the target.
			w.Header().Set("Location", loc)
			msg = "moved to " + loc
		}
		if allow := u.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
			msg = "method " + r.Method + " not allowed; allowed: " + allow
		}
		Encode(w, u.status, ErrorBody{Status: "Error", Message: msg})
	})))
}

// HandleFile serves a fixed document, such as the embedded OpenAPI spec.
func HandleFile(contentType string, body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	})
}
