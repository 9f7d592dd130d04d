package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/scalable-shop/scalable-shop/hack/loadgen/load"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// visibleTimeout is how long a followed purchase may take to show up.
const visibleTimeout = 10 * time.Second

// visible buys at -visible-rate in an open loop through cm-server, with
// cm-api consuming the topic (Kafka mode), twice, each time on a fresh topic
// and database. The first time nobody reads: it times buy -> stored, from
// the time each /buy was due to cm-api logging the purchase stored. The
// second time it follows every -visible-every-th purchase (bought for a user
// of its own) until GET /getAllUserBuys shows it, and times buy -> visible
// from the due time to the first answer that lists it. Kept apart, the
// pipeline's latency is not mixed up with the cost of the reads.
func (b *bench) visible(ctx context.Context) error {
	if err := b.visiblePhase(ctx, "stored", false); err != nil {
		return err
	}
	return b.visiblePhase(ctx, "visible", true)
}

// visiblePhase runs one of visible's two load phases; follow says whether
// purchases are followed to getAllUserBuys.
func (b *bench) visiblePhase(ctx context.Context, key string, follow bool) error {
	topic := b.name(key)
	if err := createTopics(ctx, b.brokers, topic, topic+"-dlq"); err != nil {
		return err
	}
	defer deleteTopics(b.brokers, topic, topic+"-dlq")
	db := b.database(key)
	defer func() { _ = b.store.Database(db).Drop(context.Background()) }()
	// At debug level cm-api logs each purchase it stored, with the time.
	api, err := b.startAPI(ctx, db, topic, true, "LOG_LEVEL=debug")
	if err != nil {
		return err
	}
	defer api.stop(20 * time.Second)
	srv, err := b.startServer(ctx, topic, api.url)
	if err != nil {
		return err
	}
	defer srv.stop(20 * time.Second)

	f := &follower{client: httpClient(b.cfg.OpenWorkers), url: srv.url, poll: b.cfg.VisiblePoll,
		has: hasID(purchases(b.store, db)), slots: make(chan struct{}, b.cfg.Followers), due: map[string]time.Time{}}
	prefix := b.name(key)
	op := func(ctx context.Context, i int, due time.Time) error {
		p := newPurchase(prefix, i, b.cfg.Users, time.Now())
		if follow && i%b.cfg.VisibleEvery == 0 {
			p.Username, p.UserID = fmt.Sprintf("%s-followed-%d", prefix, i), fmt.Sprintf("%s-f%d", prefix, i)
			if ok, err := f.follow(ctx, p, due); ok {
				return err
			}
		}
		_, err := f.buy(ctx, p, due)
		return err
	}
	loop := load.Open{Rate: b.cfg.VisibleRate, Duration: b.cfg.Duration, Workers: b.cfg.OpenWorkers}
	desc := fmt.Sprintf("POST /buy at %.0f/s, nobody reading", b.cfg.VisibleRate)
	if follow {
		desc = fmt.Sprintf("POST /buy at %.0f/s, every %d-th followed", b.cfg.VisibleRate, b.cfg.VisibleEvery)
	}
	all := b.phase(ctx, key+"_buys", desc, loop, op)
	if follow {
		b.reportVisible(f, all.Summary)
		return ctx.Err()
	}
	// Purchases acknowledged at the end may still be in Kafka: wait until
	// cm-api has stored as many as were acknowledged (or a minute passed),
	// then stop it, which flushes its log, and look every one up in the store.
	if _, err := b.caughtUp(ctx, api, int64(len(f.due)), time.Minute); err != nil {
		b.logf("  %v; looking them up in the store anyway", err)
	}
	api.stop(20 * time.Second)
	if err := checkStored(ctx, purchases(b.store, db), f.acked()); err != nil {
		return err
	}
	return b.reportStored(f, api.logPath, all.Summary)
}

// checkStored fails when any of ids is not in coll, naming them.
func checkStored(ctx context.Context, coll *mongo.Collection, ids []string) error {
	stored, err := storedIDs(ctx, coll)
	if err != nil {
		return err
	}
	var missing []string
	for _, id := range ids {
		if !stored[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return fmt.Errorf("%d of %d acknowledged purchases not in the store: %s", len(missing), len(ids), strings.Join(missing[:min(len(missing), 20)], ", "))
}

// storedIDs reads the _id of every document in coll, in one query: a
// fresh database per phase holds only the phase's purchases, and on the
// embedded FerretDB one scan is cheaper than a look-up per id.
func storedIDs(ctx context.Context, coll *mongo.Collection) (map[string]bool, error) {
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("read stored ids: %w", err)
	}
	defer cur.Close(ctx)
	ids := map[string]bool{}
	for cur.Next(ctx) {
		var d struct {
			ID string `bson:"_id"`
		}
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("read stored ids: %w", err)
		}
		ids[d.ID] = true
	}
	return ids, cur.Err()
}

// reportStored reports, from cm-api's debug log at logPath, how long every
// purchase bought in the phase took from its due time to being stored: the
// part of buy -> visible that does not depend on how fast the store reads.
// all is the phase's summary.
func (b *bench) reportStored(f *follower, logPath string, all load.Summary) error {
	log, err := os.Open(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	at, err := storedTimes(log)
	if err != nil {
		return fmt.Errorf("read cm-api's log: %w", err)
	}
	var lat []time.Duration
	for id, due := range f.due {
		if t, ok := at[id]; ok {
			lat = append(lat, t.Sub(due))
		}
	}
	// Every acknowledged purchase is in the store (checkStored); one that
	// cm-api stored but did not log is left out of the latencies, and said.
	s := load.Summarize(lat, 0, 0, 0)
	unlogged := len(f.due) - len(lat)
	b.report.detail("stored", map[string]any{"bought": len(f.due), "stored": s, "stored_not_logged": unlogged})
	b.logf("  buy -> stored: all %d bought are in the store, %d in cm-api's log: p50 %.1f ms, p99 %.1f ms, max %.1f ms",
		len(f.due), s.OK, millis(s.P50), millis(s.P99), millis(s.Max))
	fig := fmt.Sprintf("buy → stored (cm-api's log) at %.0f/s, nobody reading, all %d purchases", b.cfg.VisibleRate, s.OK)
	if unlogged > 0 {
		fig = fmt.Sprintf("buy → stored (cm-api's log) at %.0f/s, nobody reading, %d of %d purchases (all stored, %d not logged)",
			b.cfg.VisibleRate, s.OK, len(f.due), unlogged)
	}
	if all.Failed > 0 || all.Dropped > 0 {
		fig += fmt.Sprintf(" (%d buys failed, %d dropped)", all.Failed, all.Dropped)
	}
	b.report.add(
		row{Scenario: "visible", Figure: fig + " p50", Value: millis(s.P50), Unit: "ms"},
		row{Scenario: "visible", Figure: fig + " p99", Value: millis(s.P99), Unit: "ms"},
	)
	return nil
}

// storedTimes reads cm-api's JSON log lines and returns when each purchase
// was logged as stored (the first time, if it was stored again).
func storedTimes(r io.Reader) (map[string]time.Time, error) {
	at := map[string]time.Time{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Time       time.Time `json:"time"`
			Msg        string    `json:"msg"`
			PurchaseID string    `json:"purchase_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "purchase stored" {
			continue
		}
		if _, seen := at[line.PurchaseID]; !seen {
			at[line.PurchaseID] = line.Time
		}
	}
	return at, sc.Err()
}

func (b *bench) reportVisible(f *follower, all load.Summary) {
	s := load.Summarize(f.latencies, f.lost, 0, 0)
	b.report.detail("visible", map[string]any{"followed": s, "skipped_all_followers_busy": f.skipped})
	b.logf("  buy -> visible: %d followed, p50 %.1f ms, p99 %.1f ms, max %.1f ms, %d not visible within %v, %d skipped",
		s.OK, millis(s.P50), millis(s.P99), millis(s.Max), s.Failed, visibleTimeout, f.skipped)
	fig := fmt.Sprintf("buy → visible in getAllUserBuys at %.0f/s", b.cfg.VisibleRate)
	if buysFailed := all.Failed - s.Failed; s.Failed > 0 || f.skipped > 0 || buysFailed > 0 || all.Dropped > 0 {
		fig += fmt.Sprintf(" (%d followed, %d not visible in %v, %d skipped: followers busy; %d buys failed, %d dropped)",
			s.OK+s.Failed, s.Failed, visibleTimeout, f.skipped, buysFailed, all.Dropped)
	}
	b.report.add(
		row{Scenario: "visible", Figure: fig + " p50", Value: millis(s.P50), Unit: "ms"},
		row{Scenario: "visible", Figure: fig + " p99", Value: millis(s.P99), Unit: "ms", Target: target{Max: 100}},
	)
}

// follower buys purchases and follows them until getAllUserBuys lists
// them. It first looks a purchase up by _id in the store and asks
// getAllUserBuys only once it is stored. On MongoDB both are index lookups;
// the embedded FerretDB reads the whole collection for both, but the _id
// lookup stays inside SQLite while a list query decodes every document, so
// the lookup loads the store less. At most cap(slots) purchases are
// followed at once.
type follower struct {
	client *http.Client
	url    string
	poll   time.Duration
	has    func(context.Context, string) (bool, error)
	slots  chan struct{}

	mu        sync.Mutex
	due       map[string]time.Time // every purchase bought: when its /buy was due
	latencies []time.Duration
	lost      int
	skipped   int
}

// buy posts p, due at due, and returns the purchase id cm-server gave it.
func (f *follower) buy(ctx context.Context, p purchase, due time.Time) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url+"/buy", bytes.NewReader(p.body()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return "", fmt.Errorf("POST /buy: status %d: %s", resp.StatusCode, body)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.ID == "" {
		return "", fmt.Errorf("POST /buy: no id in the answer: %v", err)
	}
	f.mu.Lock()
	f.due[out.ID] = due
	f.mu.Unlock()
	return out.ID, nil
}

// acked is the id of every purchase acknowledged so far.
func (f *follower) acked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.due))
	for id := range f.due {
		ids = append(ids, id)
	}
	return ids
}

// follow buys p and waits until its user's first page lists it. It returns
// false, without buying, when all followers are busy.
func (f *follower) follow(ctx context.Context, p purchase, due time.Time) (bool, error) {
	select {
	case f.slots <- struct{}{}:
		defer func() { <-f.slots }()
	default:
		f.mu.Lock()
		f.skipped++
		f.mu.Unlock()
		return false, nil
	}
	id, err := f.buy(ctx, p, due)
	if err != nil {
		return true, err
	}
	u := f.url + "/getAllUserBuys/" + url.PathEscape(p.Username) + "?limit=1"
	stored := false
	for deadline := time.Now().Add(visibleTimeout); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(f.wait(due)) {
		if !stored {
			if stored, err = f.has(ctx, id); err != nil || !stored {
				continue
			}
		}
		if f.shows(ctx, u, id) {
			f.mu.Lock()
			f.latencies = append(f.latencies, time.Since(due))
			f.mu.Unlock()
			return true, nil
		}
	}
	f.mu.Lock()
	f.lost++
	f.mu.Unlock()
	return true, fmt.Errorf("purchase %s not visible within %v", id, visibleTimeout)
}

// wait is the pause before the next look: -visible-poll, or a tenth of the
// time waited so far once that is longer, so that a slow pipeline is not
// polled ever harder. A latency is thus overstated by at most the larger.
func (f *follower) wait(due time.Time) time.Duration {
	return max(f.poll, time.Since(due)/10)
}

// shows reports whether the page at u lists purchase id.
func (f *follower) shows(ctx context.Context, u, id string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var page struct {
		Purchases []struct {
			ID string `json:"_id"`
		} `json:"purchases"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&page) != nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return false
	}
	return len(page.Purchases) > 0 && page.Purchases[0].ID == id
}

// hasID reports whether coll holds a document with _id id.
func hasID(coll *mongo.Collection) func(context.Context, string) (bool, error) {
	opts := options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})
	return func(ctx context.Context, id string) (bool, error) {
		err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, opts).Err()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return false, nil
		}
		return err == nil, err
	}
}
