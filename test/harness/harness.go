// Package harness starts the shop for end-to-end tests: the real cm-server
// and cm-api binaries as processes, against the Kafka broker in
// KAFKA_BROKERS (a real Apache Kafka under `make test`) and a MongoDB
// wire-protocol server (MONGODB_URI, or an embedded FerretDB).
package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// Binary returns the path of a function built once per test process:
// "cm-server" or "cm-api", or of the operator's tool, "shopctl".
func Binary(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "scalable-shop-bin-")
		if buildErr != nil {
			return
		}
		root := repoRoot()
		for fn, pkg := range map[string]string{"cm-server": "./functions/cm-server", "cm-api": "./functions/cm-api", "shopctl": "./cmd/shopctl"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, fn), pkg)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", fn, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

// repoRoot is the module root, two folders up from this file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// FreePort returns a loopback port that was free a moment ago.
var FreePort = apitest.FreePort

// Integration skips under -short and otherwise returns the brokers of the
// real Kafka in KAFKA_BROKERS; without it the test fails, saying how to run.
func Integration(t testing.TB) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs a Kafka broker and a MongoDB wire-protocol server; skipped with -short")
	}
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		t.Fatal("KAFKA_BROKERS is not set: run `make test` (it starts a real Kafka broker) " +
			"or start one with `eval \"$(hack/kafka.sh start)\"`; use -short to skip end-to-end tests")
	}
	return strings.Split(brokers, ",")
}

// WaitReady polls url until it answers 200 or timeout passes.
var WaitReady = apitest.WaitReady

// Eventually polls cond every 50 ms until it returns "" or timeout passes,
// then fails with cond's last complaint.
func Eventually(t testing.TB, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
