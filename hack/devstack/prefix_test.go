package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestPrefixWriter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		writes []string
		flush  bool
		want   string
	}{
		{name: "one_line", writes: []string{"hello\n"}, want: "cm-api    | hello\n"},
		{name: "two_lines_in_one_write", writes: []string{"a\nb\n"}, want: "cm-api    | a\ncm-api    | b\n"},
		{name: "line_split_across_writes", writes: []string{"hel", "lo\nwor", "ld\n"}, want: "cm-api    | hello\ncm-api    | world\n"},
		{name: "partial_line_held_back", writes: []string{"a\npartial"}, want: "cm-api    | a\n"},
		{name: "partial_line_flushed", writes: []string{"a\npartial"}, flush: true, want: "cm-api    | a\ncm-api    | partial\n"},
		{name: "crlf_trimmed", writes: []string{"dos\r\n"}, want: "cm-api    | dos\n"},
		{name: "empty_line_kept", writes: []string{"\n"}, want: "cm-api    | \n"},
		{name: "flush_with_nothing_pending_writes_nothing", writes: []string{"x\n"}, flush: true, want: "cm-api    | x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out strings.Builder
			w := newMux(&out, "cm-server", "cm-api").writer("cm-api")
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q): got %d, %v, want %d, nil", s, n, err, len(s))
				}
			}
			if tt.flush {
				if err := w.Flush(); err != nil {
					t.Fatalf("Flush: %v", err)
				}
			}
			if got := out.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPrefixWriter_long_line_without_newline_is_cut(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	w := newMux(&out, "x").writer("x")
	if _, err := w.Write([]byte(strings.Repeat("a", maxLine+10))); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if got, want := out.Len(), len("x | ")+maxLine+10+1; got != want {
		t.Errorf("written: got %d bytes, want %d (the whole over-long line)", got, want)
	}
}

func TestPrefixWriter_concurrent_streams_do_not_interleave_lines(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	m := newMux(&out, "cm-server", "cm-api", "devstack")
	var wg sync.WaitGroup
	for _, name := range []string{"cm-server", "cm-api", "devstack"} {
		w := m.writer(name)
		wg.Go(func() {
			for i := range 200 {
				// Split each line over two writes to exercise buffering.
				fmt.Fprintf(w, "%s line ", name)
				fmt.Fprintf(w, "%d\n", i)
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 600 {
		t.Fatalf("lines: got %d, want 600", len(lines))
	}
	for _, l := range lines {
		prefix, rest, ok := strings.Cut(l, " | ")
		if name := strings.TrimSpace(prefix); !ok || !strings.HasPrefix(rest, name+" line ") || len(prefix) != len("cm-server") {
			t.Errorf("line %q: want %q prefix padded to 9, then its own text", l, name)
		}
	}
}
