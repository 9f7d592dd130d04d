package stack

import (
	"context"
	"log/slog"
	"strings"
)

// quietHandler drops FerretDB warnings that are expected noise: the header
// half of every failed-command dump, the "endSessions" command the MongoDB
// driver sends on Disconnect (FerretDB does not implement it), and deadline
// errors on connections that are already closed.
type quietHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	msg := r.Message
	switch {
	case strings.HasPrefix(msg, "Response header:"),
		strings.Contains(msg, "no such command: 'endSessions'"),
		strings.HasPrefix(msg, "Failed to set deadline") && strings.Contains(msg, "use of closed network connection"):
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}
