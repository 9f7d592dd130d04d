package main

import (
	"path/filepath"
	"testing"
)

// TestShippedContentMode reads the shipped KafkaSinks as the bench's sink
// stand-in does: "purchases" is binary, an unknown name is an error.
func TestShippedContentMode(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "eventing", "kafka-sinks.yaml")
	if got, err := shippedContentMode(path, "purchases"); err != nil || got != "binary" {
		t.Errorf("purchases: got %q, %v; want binary", got, err)
	}
	if got, err := shippedContentMode(path, "no-such-sink"); err == nil {
		t.Errorf("no-such-sink: got %q, want an error", got)
	}
}
