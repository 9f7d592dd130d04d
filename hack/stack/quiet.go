package stack

import (
	"context"
	"log/slog"
	"strings"
)

// quietHandler drops FerretDB warnings that are expected noise: the header
// half of every failed-command dump, the "endSessions" command the MongoDB
// driver sends on Disconnect (FerretDB does not implement it), and deadline
// errors on connections that are already closed, and PostgreSQL's
// duplicate-key errors, which the shop expects.
type quietHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	msg := r.Message
	switch {
	case strings.HasPrefix(msg, "Response header:"),
		strings.Contains(msg, "no such command: 'endSessions'"),
		strings.HasPrefix(msg, "Failed to set deadline") && strings.Contains(msg, "use of closed network connection"),
		msg == "Query" && duplicateKey(r):
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

// duplicateKey says whether r is PostgreSQL refusing an insert of an _id
// that is stored already: cm-api inserts every redelivered purchase and
// reads the duplicate-key error as "stored before", so on the PostgreSQL
// backend each redelivery would log an ERROR.
func duplicateKey(r slog.Record) bool {
	dup := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" && strings.Contains(a.Value.String(), "(SQLSTATE 23505)") {
			dup = true
			return false
		}
		return true
	})
	return dup
}

// WithAttrs implements slog.Handler.
func (h quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}
