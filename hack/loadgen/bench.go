package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

// functions are the binaries under test.
var functions = []string{"cm-server", "cm-api"}

// bench is one run: its configuration, processes, store client and report.
type bench struct {
	cfg     config
	brokers []string
	stderr  io.Writer
	logMu   sync.Mutex
	work    string
	procs   *children
	bins    map[string]string
	gcEnv   map[string][]string // each function's GOGC and GOMEMLIMIT, as config/ ships them
	uri     string
	store   *mongo.Client
	report  *report
	runID   string
}

func newBench(cfg config, brokers []string, stderr io.Writer) (*bench, error) {
	work, err := stack.MkdirTemp("loadgen-")
	if err != nil {
		return nil, err
	}
	r := newReport(cfg)
	r.Env = environment(brokers)
	return &bench{cfg: cfg, brokers: brokers, stderr: stderr, work: work, procs: &children{dir: work},
		bins: map[string]string{}, gcEnv: map[string][]string{}, report: r, runID: r.Env["run_id"].(string)}, nil
}

// close stops every child and removes the work directory, unless asked to
// keep it or something failed (its logs tell why).
func (b *bench) close(failed bool) {
	if b.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = b.store.Disconnect(ctx)
		cancel()
	}
	b.procs.stopAll()
	if b.cfg.Keep || failed {
		b.logf("work directory kept: %s", b.work)
		return
	}
	_ = os.RemoveAll(b.work)
}

// logf writes a progress line to stderr.
func (b *bench) logf(format string, args ...any) {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	fmt.Fprintf(b.stderr, "loadgen %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// every prints line() every 3 s until the returned stop is called.
func (b *bench) every(phase string, line func() string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				b.logf("  %s: %s", phase, line())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// name is a topic, group or user prefix no other run or scenario uses.
func (b *bench) name(what string) string { return "bench-" + what + "-" + b.runID }

// database is a fresh database name for a scenario.
func (b *bench) database(what string) string {
	return strings.ReplaceAll("bench_"+what+"_"+b.runID, "-", "_")
}

// build compiles the functions as released (-s -w, no cgo) and reports sizes.
func (b *bench) build(ctx context.Context) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	for _, fn := range functions {
		bin := filepath.Join(b.work, fn)
		b.logf("building %s", fn)
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./functions/"+fn)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", fn, err, out)
		}
		st, err := os.Stat(bin)
		if err != nil {
			return err
		}
		b.bins[fn] = bin
		if b.gcEnv[fn], err = stack.ShippedGoRuntimeEnv(filepath.Join(root, "config"), fn); err != nil {
			return err
		}
		b.report.add(row{Scenario: "build", Figure: fn + " binary size (-s -w)", Value: float64(st.Size()) / (1 << 20), Unit: "MiB"})
	}
	return nil
}

// moduleRoot is the repository's root: the folder of go.work, which ties the
// functions' module (the root) to hack/'s and test/'s, wherever in the
// repository loadgen runs; without a workspace (GOWORK=off), the folder of
// the current module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOWORK", "GOMOD").Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != 2 {
		return "", fmt.Errorf("run loadgen inside the repository (go env GOWORK GOMOD: %q, %v)", out, err)
	}
	if gowork := strings.TrimSpace(lines[0]); gowork != "" && gowork != "off" {
		return filepath.Dir(gowork), nil
	}
	gomod := strings.TrimSpace(lines[1])
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run loadgen inside the repository (go env GOMOD: %q)", gomod)
	}
	return filepath.Dir(gomod), nil
}

// openStore uses MONGODB_URI, or starts the embedded FerretDB in a process
// of its own, and connects loadgen's client.
func (b *bench) openStore(ctx context.Context, uri string) error {
	b.report.Env["store"] = "MONGODB_URI"
	if uri == "" {
		b.logf("starting the embedded FerretDB (make run's dev store) in its own process")
		c, u, backend, err := startStore(ctx, b.procs, b.work)
		if err != nil {
			return err
		}
		uri = u
		b.logf("the store runs on %s", backend)
		b.report.Env["store"] = "embedded FerretDB (hack/stack, " + backend + " backend) in a separate process"
		b.report.Env["store_backend"] = backend
		b.report.Env["store_pid"] = c.pid()
	}
	b.uri = uri
	client, err := connectStore(uri)
	if err != nil {
		return err
	}
	b.store = client
	return nil
}

// fn is one started function: its process, base URL and the base URL of
// its metrics port (/metrics, the detailed /readyz).
type fn struct {
	*child
	url, metrics string
}

// apiEnv is cm-api's environment; kafkaMode makes it consume topic itself.
func (b *bench) apiEnv(port, db, topic string, kafkaMode bool) []string {
	env := append(slices.Clone(b.gcEnv["cm-api"]), "PORT="+port, "MONGODB_URI="+b.uri, "MONGODB_DATABASE="+db, "LOG_LEVEL=info",
		"KAFKA_TOPIC="+topic, "KAFKA_DLQ_TOPIC="+topic+"-dlq", "KAFKA_CONSUMER_GROUP="+topic+"-group")
	if kafkaMode {
		env = append(env, "KAFKA_BROKERS="+strings.Join(b.brokers, ","))
	}
	return append(env, b.cfg.APIEnv...)
}

// serverEnv is cm-server's environment, producing to topic, with extra
// KEY=VALUEs (-server-env comes last and wins).
func (b *bench) serverEnv(port, topic, apiURL string, extra ...string) []string {
	env := append(slices.Clone(b.gcEnv["cm-server"]), "PORT="+port, "KAFKA_BROKERS="+strings.Join(b.brokers, ","),
		"KAFKA_TOPIC="+topic, "CM_API_URL="+apiURL, "LOG_LEVEL=info")
	return append(append(env, extra...), b.cfg.ServerEnv...)
}

// startAPI starts cm-api, with extra KEY=VALUEs in its environment, and
// waits until it is ready.
func (b *bench) startAPI(ctx context.Context, db, topic string, kafkaMode bool, extra ...string) (fn, error) {
	port, mport, err := freePorts()
	if err != nil {
		return fn{}, err
	}
	c, err := b.procs.start("cm-api", b.bins["cm-api"], nil, append(append(b.apiEnv(port, db, topic, kafkaMode), extra...), "METRICS_PORT="+mport))
	if err != nil {
		return fn{}, err
	}
	f := fn{c, "http://127.0.0.1:" + port, "http://127.0.0.1:" + mport}
	return f, waitReady(ctx, f, 60*time.Second)
}

// startServer starts cm-server and waits until it is ready.
func (b *bench) startServer(ctx context.Context, topic, apiURL string, extra ...string) (fn, error) {
	port, mport, err := freePorts()
	if err != nil {
		return fn{}, err
	}
	c, err := b.procs.start("cm-server", b.bins["cm-server"], nil, append(b.serverEnv(port, topic, apiURL, extra...), "METRICS_PORT="+mport))
	if err != nil {
		return fn{}, err
	}
	f := fn{c, "http://127.0.0.1:" + port, "http://127.0.0.1:" + mport}
	return f, waitReady(ctx, f, 60*time.Second)
}

// waitReady polls /readyz until it answers 200.
func waitReady(ctx context.Context, f fn, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "no answer"
	client := &http.Client{Timeout: 5 * time.Second}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if f.exited() {
			return f.failure(fmt.Errorf("exited during start-up: %v", f.err))
		}
		resp, err := client.Get(f.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f.failure(fmt.Errorf("not ready after %v: %s", timeout, last))
}

// freePorts is a function's PORT and METRICS_PORT, free a moment ago and
// different (the kernel may offer a port again once its listener closed).
func freePorts() (port, metricsPort string, err error) {
	if port, err = freePort(); err != nil {
		return "", "", err
	}
	for metricsPort == "" || metricsPort == port {
		if metricsPort, err = freePort(); err != nil {
			return "", "", err
		}
	}
	return port, metricsPort, nil
}

// freePort is a loopback port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), nil
}
