// Package server holds what both functions' HTTP servers share: JSON answers
// and errors, health endpoints, middleware and the Knative lifecycle.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
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

// Problem is an error that knows how it should be answered; Fail answers it.
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
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The connection may be gone; there is no one left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

// InvalidInput is an error about what a client sent, field by field, such as
// a domain package's validation error.
type InvalidInput interface {
	error
	InvalidFields() map[string]string
}

// Fail answers err, and is the one place where errors become statuses:
// InvalidInput is 400 naming each field, an oversized body 413, a *Problem
// its own status, anything else 500 with a generic message. The cause of
// every 5xx is logged.
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

// ReadBody reads at most limit bytes of the request body; a larger body is an
// *http.MaxBytesError (413). A body that breaks off is a 408 Problem: nothing
// is wrong with it, and a KafkaSource retries a 408 where it would
// dead-letter a 400.
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

// DrainOversized discards up to limit more bytes of a body ReadBody found too
// large, for at most d, and closes the connection after the answer. A client
// that writes its whole body before reading (no "Expect: 100-continue") would
// otherwise see "connection reset" instead of the 413.
func DrainOversized(w http.ResponseWriter, r *http.Request, limit int64, d time.Duration) {
	w.Header().Set("Connection", "close")
	// A writer that cannot set a read deadline (httptest.ResponseRecorder)
	// leaves the bound to the server's ReadTimeout.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
	_, _ = io.CopyN(io.Discard, r.Body, limit)
}

// unmatched captures ServeMux's own 404 or 405 answer, which has no hook, so
// Handler can keep its status and headers but answer in JSON.
type unmatched struct {
	header http.Header
	status int
}

func (u *unmatched) Header() http.Header         { return u.header }
func (u *unmatched) Write(b []byte) (int, error) { return len(b), nil }
func (u *unmatched) WriteHeader(code int)        { u.status = code }

// Handler serves mux, answering what no route takes (404, or 405 with Allow)
// in the JSON error shape, inside Middleware and a server span per request.
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
			w.Header().Set("Location", loc) // ServeMux redirects to the cleaned path
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

// statusRecorder remembers the status a handler wrote. Unwrap lets
// http.ResponseController reach the connection through it (the read
// deadline DrainOversized sets, Flush).
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Observer records each request. route is the mux pattern that served it,
// "" when none did; ctx is the request's, with its span.
type Observer interface {
	ObserveRequest(ctx context.Context, route, method string, status int, d time.Duration)
}

// Middleware logs every request at debug level, reports it to obs, and turns
// a panic into a 500 so one bad request cannot take the process down.
func Middleware(log *slog.Logger, obs Observer, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if rec.status == 0 {
					Fail(rec, r, log, errors.New("panic"))
				}
			}
			obs.ObserveRequest(r.Context(), r.Pattern, r.Method, rec.status, time.Since(start))
			// The access log; failures were logged once, by Fail.
			log.LogAttrs(r.Context(), slog.LevelDebug, "request", slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.Int("status", rec.status),
				slog.Duration("duration", time.Since(start)))
		}()
		h.ServeHTTP(rec, r)
	})
}
