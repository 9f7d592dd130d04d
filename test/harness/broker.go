package harness

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Broker is a real Apache Kafka broker (hack/kafka.sh) that only one test
// uses, so the test may stop it and start it again on the same ports and the
// same data: an outage the shared broker in KAFKA_BROKERS cannot have.
type Broker struct {
	t       testing.TB
	env     []string
	Brokers []string
}

// StartBroker starts a broker on free loopback ports with its own data dir
// and stops it when the test ends. It fails the test when Java or Maven is
// missing: hack/kafka.sh needs both (.ci/run installs them).
func StartBroker(t testing.TB) *Broker {
	t.Helper()
	for _, tool := range []string{envOr("JAVA", "java"), envOr("MVN", "mvn")} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: this test runs its own Kafka broker with hack/kafka.sh, "+
				"which needs Java 17+ and Maven (.ci/run installs both)", tool)
		}
	}
	port, controller := FreePort(t), FreePort(t)
	for controller == port {
		controller = FreePort(t)
	}
	data := t.TempDir()
	b := &Broker{t: t, Brokers: []string{"127.0.0.1:" + port}}
	b.env = append(os.Environ(), "KAFKA_PORT="+port, "KAFKA_CONTROLLER_PORT="+controller,
		"KAFKA_DATA="+data, "KAFKA_PIDFILE="+filepath.Join(data, "kafka.pid"), "KAFKA_REUSE_DATA=1",
		"KAFKA_HEAP=-Xmx384m -Xms64m")
	// Registered after TempDir, so it runs before the data dir is removed.
	t.Cleanup(func() {
		if out, err := b.script("stop", time.Minute); err != nil {
			t.Errorf("stop own Kafka broker: %v\n%s", err, out)
		}
	})
	b.Start()
	return b
}

// Start starts the broker, or starts it again on the data it had, and waits
// until it is ready.
func (b *Broker) Start() {
	b.t.Helper()
	out, err := b.script("start", 2*time.Minute)
	if err != nil {
		b.t.Fatalf("start own Kafka broker: %v\n%s", err, out)
	}
	if want := "KAFKA_BROKERS=" + b.Brokers[0]; !strings.Contains(out, want) {
		b.t.Fatalf("start own Kafka broker: output lacks %q:\n%s", want, out)
	}
}

// Stop stops the broker (SIGTERM, then SIGKILL after 20 s) and keeps its data.
func (b *Broker) Stop() {
	b.t.Helper()
	if out, err := b.script("stop", time.Minute); err != nil {
		b.t.Fatalf("stop own Kafka broker: %v\n%s", err, out)
	}
}

// script runs hack/kafka.sh with one command and returns its output.
func (b *Broker) script(command string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(), "hack", "kafka.sh"), command)
	cmd.Env = b.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
