package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestSchemathesis runs hack/schemathesis.sh against both running functions:
// generated requests, valid and invalid, for every operation of each
// function's openapi.yaml; it fails on a 5xx or on an answer (status,
// Content-Type, body) the document does not describe. SCHEMATHESIS=0 skips
// it; the first run installs schemathesis with pip.
func TestSchemathesis(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	if os.Getenv("SCHEMATHESIS") == "0" {
		t.Skip("SCHEMATHESIS=0")
	}
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", nil)
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "hack", "schemathesis.sh")
	for name, url := range map[string]string{"cm-server": shop.ServerURL, "cm-api": shop.APIURL} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, script, url)
			cmd.Dir = t.TempDir() // schemathesis may leave files behind
			cmd.Env = append(os.Environ(), "SCHEMATHESIS_TIMEOUT=300")
			// At the deadline, SIGTERM: timeout(1) in the script passes it on.
			cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
			cmd.WaitDelay = 20 * time.Second
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("hack/schemathesis.sh %s: %v\n%s", url, err, out)
				return
			}
			t.Logf("hack/schemathesis.sh %s:\n%s", url, lastLines(string(out), 25))
		})
	}
}

// lastLines is the end of s, at most n lines.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
