package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/hack/stack"
)

// fakeFunction is a stand-in for a shop function: it serves /healthz on
// $PORT, reports its environment and process group, and exits 0 on SIGTERM,
// or with status 3 shortly after start when CRASH is set.
const fakeFunction = `package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	http.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	go http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
	fmt.Printf("own_group=%v brokers=%s mongo=%s\n", syscall.Getpgrp() == os.Getpid(), os.Getenv("KAFKA_BROKERS"), os.Getenv("MONGODB_URI"))
	if os.Getenv("CRASH") != "" {
		time.Sleep(300 * time.Millisecond)
		fmt.Print("crashing, no newline")
		os.Exit(3)
	}
	<-sig
	fmt.Println("got SIGTERM")
}
`

// testConfig returns a config running the fake function as the named
// functions, with embedded services on free loopback ports.
func testConfig(t *testing.T, names ...string) config {
	t.Helper()
	src := t.TempDir()
	files := map[string]string{"go.mod": "module fake\n\ngo 1.26\n", "fake/main.go": fakeFunction}
	for name, text := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config{
		kafkaAddr:       "127.0.0.1:0",
		mongoAddr:       "127.0.0.1:0",
		topics:          map[string]int32{"purchases": 3},
		dataDir:         dataDir(t),
		env:             []string{"PATH=" + os.Getenv("PATH")},
		healthTimeout:   30 * time.Second,
		shutdownTimeout: 5 * time.Second,
	}
	for _, name := range names {
		cfg.functions = append(cfg.functions, function{name: name, dir: src, pkg: "./fake", port: freePort(t), env: apiEnv})
	}
	return cfg
}

// dataDir is a data folder the postgres user can reach when the tests run
// as root (t.TempDir's parent is closed to it).
func dataDir(t *testing.T) string {
	t.Helper()
	dir, err := stack.MkdirTemp("devstack-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startStack runs runStack in the background and returns its output and a
// channel with its result.
func startStack(t *testing.T, ctx context.Context, cfg config) (*apitest.SyncBuffer, <-chan error) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs child processes; skipped under -short")
	}
	out := &apitest.SyncBuffer{}
	res := make(chan error, 1)
	go func() { res <- runStack(ctx, cfg, out) }()
	return out, res
}

// waitFor polls out until it contains s or the stack ends.
func waitFor(t *testing.T, out *apitest.SyncBuffer, res <-chan error, s string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(out.String(), s) {
		select {
		case err := <-res:
			t.Fatalf("stack ended with %v before printing %q; output:\n%s", err, s, out)
		case <-deadline:
			t.Fatalf("no %q within a minute; output:\n%s", s, out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestRunStack_stops_children_with_sigterm_and_returns_nil(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "cm-api", "cm-server")
	ctx, cancel := context.WithCancel(t.Context())
	out, res := startStack(t, ctx, cfg)
	waitFor(t, out, res, "scalable-shop is running")
	cancel()
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("got %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after cancel; output:\n%s", out)
	}
	for _, want := range []string{
		"cm-api    | own_group=true brokers=127.0.0.1:",
		"cm-server | own_group=true brokers=127.0.0.1:",
		"cm-api    | got SIGTERM",
		"cm-server | got SIGTERM",
		"devstack  | ",
		"mongo=mongodb://127.0.0.1:",
		"ferretdb stopped",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRunStack_child_crash_stops_everything_with_error(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "cm-api", "cm-server")
	cfg.functions[0].env = func(d *deps) []string { return append(apiEnv(d), "CRASH=1") }
	out, res := startStack(t, t.Context(), cfg)
	select {
	case err := <-res:
		if err == nil || !strings.Contains(err.Error(), "cm-api exited unexpectedly (exit status 3)") {
			t.Fatalf("got %v, want cm-api exited unexpectedly (exit status 3)", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("still running a minute after the crash")
	}
	for _, want := range []string{"cm-api    | crashing, no newline\n", "cm-server | got SIGTERM", "ferretdb stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRunStack_skips_missing_function(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "cm-api")
	cfg.functions = append(cfg.functions, function{name: "cm-server", dir: t.TempDir(), pkg: "./functions/cm-server", port: freePort(t)})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, res := startStack(t, ctx, cfg)
	waitFor(t, out, res, "scalable-shop is running")
	if !strings.Contains(out.String(), `msg="skipping function that does not exist yet" function=cm-server`) {
		t.Errorf("output lacks the skip warning:\n%s", out)
	}
	cancel()
	if err := <-res; err != nil {
		t.Errorf("got %v, want nil", err)
	}
}

func TestRunStack_build_failure_is_an_error(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "cm-api")
	if err := os.WriteFile(filepath.Join(cfg.functions[0].dir, "fake", "broken.go"), []byte("package main\nfunc broken() { undefined() }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, res := startStack(t, t.Context(), cfg)
	err := <-res
	if err == nil || !strings.Contains(err.Error(), "build cm-api") {
		t.Errorf("got %v, want a build error", err)
	}
	if !strings.Contains(out.String(), "cm-api   | fake/broken.go:2:17: undefined: undefined") {
		t.Errorf("output lacks the compiler error under cm-api:\n%s", out)
	}
}

// TestRunStack_dev_store_falls_back_to_sqlite_in_one_line runs the stack as
// root with its data where the postgres user cannot reach: the store runs on
// SQLite, and one warning line says so, why, and what it costs.
func TestRunStack_dev_store_falls_back_to_sqlite_in_one_line(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("only root runs PostgreSQL as another user, who may not reach the data")
	}
	cfg := testConfig(t, "cm-api")
	cfg.dataDir = t.TempDir() // 0700, root's
	ctx, cancel := context.WithCancel(t.Context())
	out, res := startStack(t, ctx, cfg)
	waitFor(t, out, res, "scalable-shop is running")
	cancel()
	<-res
	const warning = "the dev store runs on SQLite, not PostgreSQL: every query reads the whole collection"
	if n := strings.Count(out.String(), warning); n != 1 || !strings.Contains(out.String(), "cannot reach") {
		t.Errorf("got the warning %d times (want 1, with the reason):\n%s", n, out)
	}
	if !strings.Contains(out.String(), "embedded FerretDB on SQLite") {
		t.Errorf("the banner does not say SQLite:\n%s", out)
	}
}
