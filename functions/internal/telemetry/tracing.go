package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/scalable-shop/scalable-shop/functions/internal/buildinfo"
	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

// recording says whether the installed tracer provider records spans. While
// it does not (the default), requests skip otelhttp and spans are started
// without attributes, so tracing nobody asked for costs next to nothing.
var recording atomic.Bool

// SetTracerProvider installs tp, with W3C tracecontext propagation; records
// says whether tp records spans. restore puts the previous ones back (for
// tests).
func SetTracerProvider(tp trace.TracerProvider, records bool) (restore func()) {
	prevTP, prevProp, prevRec := otel.GetTracerProvider(), otel.GetTextMapPropagator(), recording.Load()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	recording.Store(records)
	return func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		recording.Store(prevRec)
	}
}

// StartTracing installs the process's tracer provider and returns the
// function that flushes and stops it. With no exporter asked for (see
// ExporterWanted) the provider is a no-op one: nothing is recorded or sent,
// and incoming traceparents still pass through. The SDK reads its other
// settings (OTEL_TRACES_SAMPLER, OTEL_BSP_*, ...) from the environment itself.
func StartTracing(ctx context.Context, log *slog.Logger, lookup env.Lookup, service string) (func(context.Context) error, error) {
	wanted, err := ExporterWanted(lookup)
	if err != nil || !wanted {
		SetTracerProvider(noop.NewTracerProvider(), false)
		return func(context.Context) error { return nil }, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("create OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(resourceAttributes(lookup, service)...), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("describe the tracing resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	SetTracerProvider(tp, true)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", "err", err) }))
	log.Info("tracing: exporting spans with OTLP/HTTP", "endpoint", env.RedactURL(otlpEndpoint(lookup)))
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("flush spans: %w", err)
		}
		return nil
	}, nil
}

// ExporterWanted reports whether the standard variables ask for a trace
// exporter: OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint with
// OTEL_TRACES_EXPORTER unset. Unlike the specification's default, nothing set
// means no exporter. OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none
// turn it off. Only http/protobuf is built in; asking for anything else is an
// error, not a silent no-op.
func ExporterWanted(lookup env.Lookup) (bool, error) {
	if strings.EqualFold(firstSet(lookup, "OTEL_SDK_DISABLED"), "true") {
		return false, nil
	}
	switch exporter := firstSet(lookup, "OTEL_TRACES_EXPORTER"); exporter {
	case "none":
		return false, nil
	case "":
		if otlpEndpoint(lookup) == "" {
			return false, nil
		}
	case "otlp":
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: want otlp or none", exporter)
	}
	protocol := firstSet(lookup, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
	if protocol != "" && protocol != "http/protobuf" {
		return false, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: only http/protobuf is supported (port 4318 of a collector)", protocol)
	}
	return true, nil
}

// otlpEndpoint is the endpoint the trace exporter sends to, "" if unset.
func otlpEndpoint(lookup env.Lookup) string {
	return firstSet(lookup, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
}

// firstSet returns the value of the first of keys that is set, trimmed.
func firstSet(lookup env.Lookup, keys ...string) string {
	for _, k := range keys {
		if v, _ := lookup(k); strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// resourceAttributes name the function and, on Knative, the Service and
// Revision as faas.name and faas.version. OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES override them.
func resourceAttributes(lookup env.Lookup, service string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.ServiceName(service), semconv.ServiceVersion(buildinfo.Version)}
	if v, ok := lookup("K_SERVICE"); ok && v != "" {
		attrs = append(attrs, semconv.FaaSName(v))
	}
	if v, ok := lookup("K_REVISION"); ok && v != "" {
		attrs = append(attrs, semconv.FaaSVersion(v))
	}
	return attrs
}
