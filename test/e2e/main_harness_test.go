package e2e

import (
	"testing"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestMain removes the binaries and the embedded store the tests shared.
func TestMain(m *testing.M) { harness.Main(m) }
