package main

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// maxLine bounds how much of an unterminated line a prefixWriter buffers
// before it writes it out anyway, so a child that never prints a newline
// cannot grow memory without bound.
const maxLine = 64 << 10

// mux merges several named streams into one writer, one whole line at a time,
// each line prefixed with its stream's name padded to a common width, so
// lines from different processes never interleave mid-line.
type mux struct {
	mu    sync.Mutex // serialises writes to out
	out   io.Writer
	width int
}

// newMux returns a mux writing to out whose prefixes are padded to fit the
// longest of names.
func newMux(out io.Writer, names ...string) *mux {
	m := &mux{out: out}
	for _, n := range names {
		m.width = max(m.width, len(n))
	}
	return m
}

// writer returns a writer for the stream called name. Writers are safe for
// concurrent use; call Flush when the stream ends to emit a final line
// without a trailing newline.
func (m *mux) writer(name string) *prefixWriter {
	return &prefixWriter{m: m, prefix: []byte(fmt.Sprintf("%-*s | ", m.width, name))}
}

// prefixWriter is one named stream of a mux.
type prefixWriter struct {
	m      *mux
	prefix []byte

	mu  sync.Mutex // guards buf
	buf []byte     // the unterminated tail of what was written so far
}

// Write implements io.Writer. It always consumes all of p; complete lines
// are written to the mux at once, the rest is kept for the next Write.
func (w *prefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	end := bytes.LastIndexByte(w.buf, '\n') + 1
	if end == 0 && len(w.buf) >= maxLine {
		w.buf = append(w.buf, '\n')
		end = len(w.buf)
	}
	if end == 0 {
		return len(p), nil
	}
	err := w.m.writeLines(w.prefix, w.buf[:end])
	w.buf = append(w.buf[:0], w.buf[end:]...)
	if err != nil {
		return len(p), fmt.Errorf("write %s: %w", bytes.TrimSpace(w.prefix), err)
	}
	return len(p), nil
}

// Flush writes a pending unterminated line, adding the newline.
func (w *prefixWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return nil
	}
	w.buf = append(w.buf, '\n')
	err := w.m.writeLines(w.prefix, w.buf)
	w.buf = w.buf[:0]
	return err
}

// writeLines writes newline-terminated lines, each after prefix, in one
// write to the underlying writer.
func (m *mux) writeLines(prefix, lines []byte) error {
	var out []byte
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n') + 1
		line := bytes.TrimRight(lines[:i-1], "\r")
		out = append(out, prefix...)
		out = append(out, line...)
		out = append(out, '\n')
		lines = lines[i:]
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.out.Write(out)
	return err
}
