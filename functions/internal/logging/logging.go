// Package logging builds the JSON slog logger both functions write with.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// New returns a JSON logger writing to w at level ("debug", "info", "warn",
// "error"; empty means info). Every line carries the function's name.
// A line logged with a context that has a span carries its trace_id and span_id.
func New(w io.Writer, level, function string) (*slog.Logger, error) {
	var l slog.Level
	if level != "" {
		if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
			return nil, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", level)
		}
	}
	h := traceHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})}
	return slog.New(h).With("function", function), nil
}
