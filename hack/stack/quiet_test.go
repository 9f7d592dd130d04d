package stack

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestQuietHandler_drops_expected_duplicate_keys_only: PostgreSQL's refusal
// of a stored _id is what cm-api expects of a redelivery and is dropped;
// any other failed query is still logged.
func TestQuietHandler_drops_expected_duplicate_keys_only(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	log := slog.New(quietHandler{slog.NewJSONHandler(&out, nil)})
	log.Error("Query", "err", errors.New(`ERROR: duplicate key value violates unique constraint "p_id_idx" (SQLSTATE 23505)`))
	log.Error("Query", "err", errors.New(`ERROR: relation "x" does not exist (SQLSTATE 42P01)`))
	if got := strings.Count(out.String(), "\n"); got != 1 || !strings.Contains(out.String(), "42P01") {
		t.Errorf("logged %d lines, want only the 42P01 one:\n%s", got, out.String())
	}
}
