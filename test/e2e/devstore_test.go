package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scalable-shop/scalable-shop/hack/stack"
	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestDevStoreAnswersEveryQueryFromAnIndex runs the shop on make run's dev
// store (FerretDB on PostgreSQL) and makes cm-api use every query it has:
// the insert, the duplicate check of a redelivered event, the claims of an
// Idempotency-Key (the second reads the purchase by _id) and the purchase list. PostgreSQL must have read the purchases
// table through indexes only: a query that reads the whole collection slows
// the dev stack down as purchases pile up (hack/stack/pgindex.go says why).
func TestDevStoreAnswersEveryQueryFromAnIndex(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	store, dir := harness.OwnMongo(t)
	if store.Backend() != stack.BackendPostgreSQL {
		t.Skipf("the dev store runs on %s here (%v); the PostgreSQL backend is what is checked", store.Backend(), store.Fallback())
	}
	shop := harness.NewShop(t, brokers, store.URI())
	shop.StartAPI(true, nil) // creates the collection and its indexes
	shop.StartServer("", nil)
	store, before := restartForScans(t, store, dir)

	data := `{"username":"dev-store","userid":"d-1","price":"9.99","timestamp":"2024-05-31T15:54:32.204Z"}`
	for range 2 { // the second is a redelivery: cm-api checks the stored one
		produceEvent(t, brokers, shop.Topic, purchaseEvent(t, "dev-store-event", data))
	}
	keyed := map[string]string{"Idempotency-Key": "dev-store-key"}
	first := buyOK(t, shop, strings.Replace(data, "9.99", "1.00", 1), keyed) // claimed
	if again := buyOK(t, shop, strings.Replace(data, "9.99", "1.00", 1), keyed); again != first {
		t.Errorf("keyed retry: got id %s, want %s", again, first)
	}
	waitForPurchases(t, shop, "dev-store", "dev-store-event", first)
	harness.Eventually(t, 10*time.Second, func() string {
		if dup := metricValue(t, shop.APIMetrics, `shop_events_total{function="cm-api",result="duplicate"}`); dup < 1 {
			return fmt.Sprintf("cm-api counted %v duplicates, want the redelivery", dup)
		}
		return ""
	})

	_, after := restartForScans(t, store, dir)
	// The duplicate check, the keyed retry's read of its claimed purchase
	// and the list: at least 3.
	if seq, idx := after.seq-before.seq, after.idx-before.idx; seq != 0 || idx < 3 {
		t.Errorf("purchases table: got %d whole-table and %d index reads, want none of the whole table and at least 3 index reads", seq, idx)
	}
}

// tableScans are PostgreSQL's counts of whole-table and index reads of the
// table behind cm-api's purchases collection.
type tableScans struct{ seq, idx int64 }

// restartForScans restarts the store on its address and folder, which ends
// FerretDB's sessions so that they report their counts (they otherwise do so
// only every few seconds; a clean stop keeps them), and reads the counts.
// It returns the restarted store.
func restartForScans(t *testing.T, m *stack.Mongo, dir string) (*stack.Mongo, tableScans) {
	t.Helper()
	m.Close()
	m, err := stack.StartMongo(context.Background(), m.Addr(), dir, harness.DevStore()...)
	if err != nil {
		t.Fatalf("restart the store: %v", err)
	}
	t.Cleanup(m.Close)
	conn, err := pgx.Connect(t.Context(), m.PostgreSQLURL())
	if err != nil {
		t.Fatalf("connect to the store's PostgreSQL: %v", err)
	}
	defer conn.Close(context.Background())
	var s tableScans
	if err := conn.QueryRow(t.Context(), `SELECT coalesce(sum(seq_scan), 0), coalesce(sum(idx_scan), 0)
		FROM pg_stat_user_tables WHERE relname LIKE 'purchases\_%'`).Scan(&s.seq, &s.idx); err != nil {
		t.Fatalf("read the scan counts: %v", err)
	}
	return m, s
}
