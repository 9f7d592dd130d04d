package shopctl

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/scalable-shop/scalable-shop/functions/internal/buildinfo"
)

// testEnv is the environment of one test: the real broker from
// KAFKA_BROKERS and fresh topic names.
func testEnv(t *testing.T) map[string]string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Kafka broker; -short skips it")
	}
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		t.Fatal("KAFKA_BROKERS is not set: run `make test`, which starts a real broker; -short skips this")
	}
	id := uuid.NewString()[:8]
	return map[string]string{"KAFKA_BROKERS": brokers, "KAFKA_TOPIC": "shopctl-" + id, "KAFKA_DLQ_TOPIC": "shopctl-" + id + "-dlq"}
}

// lookup turns a map into an env.Lookup.
func lookup(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// shopctl runs the tool as main does and returns its output and exit code.
func shopctl(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"shopctl"}, args...), lookup(vars), &out, &errOut)
	code = exitCode(err, &errOut)
	return out.String(), errOut.String(), code
}

func admin(t *testing.T, vars map[string]string) sarama.ClusterAdmin {
	t.Helper()
	a, err := sarama.NewClusterAdmin(strings.Split(vars["KAFKA_BROKERS"], ","), sarama.NewConfig())
	if err != nil {
		t.Fatalf("cluster admin: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// TestTopicsEnsure_createsThenIdempotent creates both topics on the real
// broker, checks their partitions and min.insync.replicas, then runs again
// and finds them as documented.
func TestTopicsEnsure_createsThenIdempotent(t *testing.T) {
	t.Parallel()
	vars := testEnv(t)
	out, errOut, code := shopctl(t, vars, "topics", "ensure", "--replication-factor", "1")
	if code != 0 {
		t.Fatalf("first ensure: got exit %d %q %q, want 0", code, out, errOut)
	}
	for _, topic := range []string{vars["KAFKA_TOPIC"], vars["KAFKA_DLQ_TOPIC"]} {
		if !strings.Contains(out, topic+": created") {
			t.Errorf("first ensure: got %q, want %s created", out, topic)
		}
	}
	metas, err := admin(t, vars).DescribeTopics([]string{vars["KAFKA_TOPIC"], vars["KAFKA_DLQ_TOPIC"]})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{10, 3} {
		if got := len(metas[i].Partitions); got != want {
			t.Errorf("%s: got %d partitions, want %d", metas[i].Name, got, want)
		}
	}
	entries, err := admin(t, vars).DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: vars["KAFKA_TOPIC"],
		ConfigNames: []string{"min.insync.replicas"}})
	if err != nil || len(entries) != 1 || entries[0].Value != "1" {
		t.Errorf("min.insync.replicas: got %+v %v, want 1 (replication factor 1)", entries, err)
	}
	out, errOut, code = shopctl(t, vars, "topics", "ensure", "--replication-factor", "1")
	if code != 0 || strings.Count(out, ": ok (") != 2 {
		t.Errorf("second ensure: got exit %d %q %q, want 0 and both ok", code, out, errOut)
	}
}

// TestTopicsEnsure_reportsDifference finds a purchases topic made by hand
// with too few partitions: it says what differs and exits 1.
func TestTopicsEnsure_reportsDifference(t *testing.T) {
	t.Parallel()
	vars := testEnv(t)
	if err := admin(t, vars).CreateTopic(vars["KAFKA_TOPIC"], &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := shopctl(t, vars, "topics", "ensure", "--replication-factor", "1")
	if code != 1 {
		t.Errorf("exit code: got %d, want 1", code)
	}
	want := vars["KAFKA_TOPIC"] + ": DIFFERS: 2 partitions, want 10"
	if !strings.Contains(out, want) || !strings.Contains(out, vars["KAFKA_DLQ_TOPIC"]+": created") {
		t.Errorf("output: got %q, want %q and the dead-letter topic created", out, want)
	}
	if !strings.Contains(errOut, "differs") {
		t.Errorf("stderr: got %q, want it to say a topic differs", errOut)
	}
}

// TestUsageErrors: bad command lines exit 2 with a message naming the problem.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no_command":       {nil, "no command given"},
		"unknown_command":  {[]string{"dlq", "purge"}, `unknown command "dlq purge"`},
		"unknown_flag":     {[]string{"topics", "ensure", "--partitons", "3"}, "flag provided but not defined: -partitons"},
		"bad_number":       {[]string{"topics", "ensure", "--replication-factor", "x"}, `invalid value "x" for flag -replication-factor`},
		"zero_replication": {[]string{"topics", "ensure", "--replication-factor", "0"}, "-replication-factor must be from 1 to 32"},
		"stray_argument":   {[]string{"dlq", "list", "now"}, `unexpected argument "now"`},
		"bad_since":        {[]string{"dlq", "list", "--since", "yesterday"}, "-since"},
		"zero_rate":        {[]string{"dlq", "redrive", "--rate", "0"}, "-rate must be above 0"},
		"empty_group":      {[]string{"dlq", "redrive", "--group", " "}, "-group must not be empty"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, errOut, code := shopctl(t, map[string]string{"KAFKA_BROKERS": "127.0.0.1:1"}, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("got exit %d %q, want 2 and %q", code, errOut, tc.want)
			}
		})
	}
}

// TestUnreachableBroker: nothing listens on port 1; both commands exit 1
// saying which brokers they could not reach.
func TestUnreachableBroker(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"topics", "ensure", "--timeout", "20s"}, {"dlq", "list", "--timeout", "20s"},
		{"dlq", "redrive", "--timeout", "20s"}} {
		_, errOut, code := shopctl(t, map[string]string{"KAFKA_BROKERS": "127.0.0.1:1"}, args...)
		if want := "cannot reach Kafka at 127.0.0.1:1"; code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("%v: got exit %d %q, want 1 and %q", args, code, errOut, want)
		}
	}
}

// TestUnreachableBroker_timeout: a timeout shorter than sarama's own dial
// bound ends the command with the timeout named.
func TestUnreachableBroker_timeout(t *testing.T) {
	t.Parallel()
	_, errOut, code := shopctl(t, map[string]string{"KAFKA_BROKERS": "127.0.0.1:1"}, "topics", "ensure", "--timeout", "1ns")
	if code != 1 || !strings.Contains(errOut, "cannot reach Kafka") {
		t.Errorf("got exit %d %q, want 1 and cannot reach Kafka", code, errOut)
	}
}

// TestMain_versionAndExitCodes runs the command as cmd/shopctl does: version
// prints the stamped version, a usage error exits 2.
func TestMain_versionAndExitCodes(t *testing.T) {
	t.Parallel()
	var out, errs bytes.Buffer
	if code := Main(context.Background(), []string{"shopctl", "version"}, func(string) (string, bool) { return "", false }, &out, &errs); code != 0 || out.String() != "shopctl "+buildinfo.Version+"\n" {
		t.Errorf("version: got exit %d, %q, want 0 and %q", code, out.String(), "shopctl "+buildinfo.Version)
	}
	if code := Main(context.Background(), []string{"shopctl", "nope"}, func(string) (string, bool) { return "", false }, &out, &errs); code != 2 || !strings.Contains(errs.String(), `unknown command "nope"`) {
		t.Errorf("unknown command: got exit %d, stderr %q, want 2 naming it", code, errs.String())
	}
}
