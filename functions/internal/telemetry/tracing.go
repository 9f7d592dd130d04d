package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/scalable-shop/scalable-shop/functions/internal/buildinfo"
	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

// shutdownTimeout bounds the flush of the last spans at shutdown.
const shutdownTimeout = 5 * time.Second

// StartTracing installs the process's tracer provider and the W3C
// tracecontext propagator, and returns the function that flushes and stops
// it. The standard OpenTelemetry variables decide (see ExporterWanted):
// with no exporter asked for, the provider is a no-op one, so no span is
// recorded, no processor runs and nothing is sent; incoming traceparents
// still pass through unchanged. The SDK reads the rest of its settings
// (OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, OTEL_BSP_*, ...) from
// the process environment itself.
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
		ctx, cancel := context.WithTimeout(ctx, shutdownTimeout)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("flush spans: %w", err)
		}
		return nil
	}, nil
}

// ExporterWanted reports whether the standard variables ask for a trace
// exporter: OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint set
// (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT) with
// OTEL_TRACES_EXPORTER unset. Unlike the specification's default, nothing
// set means no exporter: a function that nobody asked to trace costs
// nothing. OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none switch it
// off. Only the http/protobuf protocol is built in; grpc or another
// exporter is a configuration error, not a silent no-op.
func ExporterWanted(lookup env.Lookup) (bool, error) {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return false, nil
	}
	switch exporter := get("OTEL_TRACES_EXPORTER"); exporter {
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
	protocol := get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = get("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if protocol != "" && protocol != "http/protobuf" {
		return false, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: only http/protobuf is supported (port 4318 of a collector)", protocol)
	}
	return true, nil
}

// otlpEndpoint is the endpoint the trace exporter sends to, "" if unset.
func otlpEndpoint(lookup env.Lookup) string {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if v, _ := lookup(k); strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// resourceAttributes name the function and, on Knative, the Service and
// Revision (K_SERVICE, K_REVISION) as faas.name and faas.version.
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override them.
func resourceAttributes(lookup env.Lookup, service string) []attributeKV {
	attrs := []attributeKV{semconv.ServiceName(service), semconv.ServiceVersion(buildinfo.Version)}
	if v, ok := lookup("K_SERVICE"); ok && v != "" {
		attrs = append(attrs, semconv.FaaSName(v))
	}
	if v, ok := lookup("K_REVISION"); ok && v != "" {
		attrs = append(attrs, semconv.FaaSVersion(v))
	}
	return attrs
}
