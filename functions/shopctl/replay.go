package shopctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"golang.org/x/time/rate"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

// replayer stores every purchase of the purchases topic since a time again,
// through cm-api's POST / (the one code path that stores, idempotent on the
// purchase id), so a restored or new store gets back what it lacks.
type replayer struct {
	to, tokenFile string
	http          *http.Client
	limit         *rate.Limiter
	log           *slog.Logger
	progress      io.Writer // nil: no progress bar (stderr is no terminal)
	total, done   int64
	stored, dup   int
	refused       int
	lastDraw      time.Time
}

func replayCmd(ctx context.Context, args []string, lookup env.Lookup, stdout, stderr io.Writer) error {
	fs := newFlags("replay", stdout)
	since := fs.String("since", "", "required: replay the purchases written since this time (RFC 3339) or this long ago (72h)")
	to := fs.String("to", "", "cm-api's base URL (default $CM_API_URL, else http://localhost:8081)")
	tokenFile := fs.String("token-file", "", "file with the bearer token cm-api takes from senders (default $CM_API_TOKEN_FILE)")
	perSecond := fs.Float64("rate", 200, "at most this many purchases stored per second")
	timeout := fs.Duration("timeout", 2*time.Hour, "give up after this long (reaching the brokers included)")
	if helped, err := parseFlags(fs, args); helped || err != nil {
		return err
	}
	if *since == "" {
		return usagef("replay: -since is required (an RFC 3339 time or a duration such as 72h)")
	}
	from, err := parseSince(*since, time.Now())
	if err != nil {
		return usagef("replay: -since %q: want an RFC 3339 time or a duration such as 72h", *since)
	}
	if *perSecond <= 0 || *perSecond > 10000 {
		return usagef("replay: -rate must be above 0 and at most 10000 per second")
	}
	cfg, err := loadConfig(lookup)
	if err != nil {
		return err
	}
	r := env.NewReader(lookup)
	rp := &replayer{to: strings.TrimRight(firstOf(*to, r.String("CM_API_URL", "http://localhost:8081")), "/"),
		tokenFile: firstOf(*tokenFile, r.String("CM_API_TOKEN_FILE", "")), http: &http.Client{Timeout: 10 * time.Second},
		limit: rate.NewLimiter(rate.Limit(*perSecond), 1), log: slog.New(slog.NewJSONHandler(stderr, nil))}
	if !strings.HasPrefix(rp.to, "http://") && !strings.HasPrefix(rp.to, "https://") {
		return usagef("replay: cm-api URL %q: want an http(s) URL", rp.to)
	}
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		rp.progress = stderr
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client, err := connect(ctx, cfg.Kafka)
	if err != nil {
		return err
	}
	defer client.Close()
	start := func(p int32) (int64, error) { return offsetAt(client, cfg.Topic, p, from) }
	if rp.total, err = countFrom(client, cfg.Topic, start); err != nil {
		return err
	}
	err = readFrom(ctx, client, cfg.Topic, start, func(msg *sarama.ConsumerMessage) error { return rp.one(ctx, msg) })
	rp.draw(true)
	fmt.Fprintf(stdout, "replay of %s since %s to %s: %d records: stored %d, already there %d, refused %d\n",
		cfg.Topic, from.UTC().Format(time.RFC3339), rp.to, rp.done, rp.stored, rp.dup, rp.refused)
	if err != nil {
		return fmt.Errorf("replay stopped after %d of %d records (running it again is safe: storing is idempotent): %w", rp.done, rp.total, err)
	}
	return nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// offsetAt is Kafka's offsets-for-times: the first offset of partition p
// written at or after t; past the end when there is none.
func offsetAt(client sarama.Client, topic string, p int32, t time.Time) (int64, error) {
	off, err := client.GetOffset(topic, p, t.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("offset of %s/%d at %s: %w", topic, p, t.Format(time.RFC3339), err)
	}
	if off < 0 {
		return math.MaxInt64, nil
	}
	return off, nil
}

// countFrom is how many records readFrom will read, for the progress bar.
func countFrom(client sarama.Client, topic string, start func(int32) (int64, error)) (int64, error) {
	parts, err := client.Partitions(topic)
	if err != nil {
		return 0, fmt.Errorf("partitions of topic %s: %w", topic, err)
	}
	var n int64
	for _, p := range parts {
		from, err := start(p)
		if err != nil {
			return 0, err
		}
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, fmt.Errorf("newest offset of %s/%d: %w", topic, p, err)
		}
		n += max(0, end-from)
	}
	return n, nil
}

// one stores one record again, counting what cm-api answered.
func (rp *replayer) one(ctx context.Context, msg *sarama.ConsumerMessage) error {
	defer rp.draw(false)
	rp.done++
	e, err := binding.ToEvent(ctx, kafka_sarama.NewMessageFromConsumerMessage(msg))
	if err != nil {
		rp.refused++
		rp.log.Info("replay", "action", "refused", "partition", msg.Partition, "offset", msg.Offset, "why", "not a CloudEvent")
		return nil
	}
	if err := rp.limit.Wait(ctx); err != nil {
		return err
	}
	a, err := rp.postRetrying(ctx, e)
	switch {
	case err != nil:
		return fmt.Errorf("store %s (%s/%d/%d): %w", e.ID(), msg.Topic, msg.Partition, msg.Offset, err)
	case a.refused != "":
		rp.refused++
		rp.log.Info("replay", "action", "refused", "purchase_id", e.ID(), "partition", msg.Partition, "offset", msg.Offset,
			"status", a.status, "why", a.refused)
	case a.duplicate:
		rp.dup++
	default:
		rp.stored++
	}
	return nil
}

// draw redraws the progress bar at most 4 times a second (and at the end).
func (rp *replayer) draw(final bool) {
	if rp.progress == nil || !final && time.Since(rp.lastDraw) < 250*time.Millisecond {
		return
	}
	rp.lastDraw = time.Now()
	const width = 30
	filled := width
	if rp.total > 0 {
		filled = int(min(rp.done, rp.total) * width / rp.total)
	}
	fmt.Fprintf(rp.progress, "\r[%s%s] %d/%d  stored %d  already there %d  refused %d", strings.Repeat("#", filled),
		strings.Repeat(".", width-filled), rp.done, rp.total, rp.stored, rp.dup, rp.refused)
	if final {
		fmt.Fprintln(rp.progress)
	}
}

var errReplayRefusedIdentity = errors.New("cm-api refused the tool's identity: give --token-file (or CM_API_TOKEN_FILE) a token cm-api's EVENTS_* settings accept")
