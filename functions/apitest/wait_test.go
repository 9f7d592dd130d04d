package apitest

import "testing"

// TestFreePort_neverTheSameTwice: a port handed out once is not handed out
// again in the same process, even when the kernel offers it again.
func TestFreePort_neverTheSameTwice(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 300 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("FreePort: got %s twice, want a new port each time", p)
		}
		seen[p] = true
	}
}
