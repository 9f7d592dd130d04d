package main

import (
	"strings"
	"testing"
	"time"
)

func TestStoredTimes_reads_the_first_stored_line_of_each_purchase(t *testing.T) {
	t.Parallel()
	log := `{"time":"2026-11-25T19:00:00.001Z","level":"INFO","msg":"consuming","function":"cm-api"}
{"time":"2026-11-25T19:00:00.002Z","level":"DEBUG","msg":"purchase stored","purchase_id":"a","duplicate":false}
not json
{"time":"2026-11-25T19:00:00.003Z","level":"DEBUG","msg":"purchase stored","purchase_id":"b","duplicate":false}
{"time":"2026-11-25T19:00:00.009Z","level":"DEBUG","msg":"purchase stored","purchase_id":"a","duplicate":true}
`
	at, err := storedTimes(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)
	want := map[string]time.Time{"a": base.Add(2 * time.Millisecond), "b": base.Add(3 * time.Millisecond)}
	if len(at) != len(want) {
		t.Fatalf("got %v, want %v", at, want)
	}
	for id, w := range want {
		if !at[id].Equal(w) {
			t.Errorf("purchase %s: stored at %v, want %v", id, at[id], w)
		}
	}
}
