package main

import (
	"context"
	"time"
)

// sleep waits d or until ctx is done; it reports whether d passed. The
// retry loops share it: creating the indexes (main.go), connecting to Kafka
// (consumer.go) and retrying a failed write (record.go).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
