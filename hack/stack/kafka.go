package stack

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka is a single-broker Kafka cluster (kfake) speaking the real wire
// protocol, so sarama and the CloudEvents Kafka binding work against it
// unchanged. Its data is lost on Close unless it was started WithDataDir.
type Kafka struct {
	cluster *kfake.Cluster
	addr    string
}

// StartKafka starts a one-broker Kafka listening on addr (port 0 picks a free
// port) with topics created up front, mapping each name to its partition
// count. With WithDataDir and a directory that already holds a cluster, that
// cluster is loaded instead and topics is ignored. As on a production
// cluster, topics are not created on demand, but clients may create more
// with the CreateTopics API. ctx bounds start-up only; call Close to stop.
func StartKafka(ctx context.Context, addr string, topics map[string]int32, opts ...Option) (*Kafka, error) {
	o := applyOptions(opts)
	laddr, err := loopbackAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("start kafka: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start kafka: %w", err)
	}

	var lc net.ListenConfig
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("scalable-shop-dev"),
		kfake.WithLogger(kfakeLogger{o.logger("kafka")}),
		// kfake always asks for 127.0.0.1:<port>; listen where we were told.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return lc.Listen(ctx, network, laddr)
		}),
	}
	if o.dataDir != "" {
		kopts = append(kopts, kfake.DataDir(o.dataDir))
	}
	for name, partitions := range topics {
		if partitions < 1 {
			return nil, fmt.Errorf("start kafka: topic %s: partitions %d, want >= 1", name, partitions)
		}
		kopts = append(kopts, kfake.SeedTopics(partitions, name))
	}

	cluster, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("start kafka on %s: %w", laddr, err)
	}
	k := &Kafka{cluster: cluster, addr: cluster.ListenAddrs()[0]}
	if err := waitListening(ctx, k.addr); err != nil {
		k.Close()
		return nil, fmt.Errorf("start kafka: %w", err)
	}
	return k, nil
}

// Addr returns the broker's host:port, with the real port if 0 was asked for.
func (k *Kafka) Addr() string { return k.addr }

// Brokers returns the bootstrap broker list for clients.
func (k *Kafka) Brokers() []string { return []string{k.addr} }

// Close stops the broker, saving its data if it has a data directory.
// Connected clients see their connections fail and retry, as with a broker
// that went away.
func (k *Kafka) Close() { k.cluster.Close() }

// waitListening dials addr once so callers get a broker that accepts
// connections, not just one that was asked to listen.
func waitListening(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	return conn.Close()
}

// kfakeLogger adapts kfake's printf-style logger to slog.
type kfakeLogger struct{ log *slog.Logger }

// Logf implements kfake.Logger.
func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var sl slog.Level
	switch level {
	case kfake.LogLevelError:
		sl = slog.LevelError
	case kfake.LogLevelWarn:
		sl = slog.LevelWarn
	case kfake.LogLevelInfo:
		sl = slog.LevelInfo
	default:
		sl = slog.LevelDebug
	}
	if !l.log.Enabled(context.Background(), sl) {
		return
	}
	l.log.Log(context.Background(), sl, fmt.Sprintf(format, args...))
}
