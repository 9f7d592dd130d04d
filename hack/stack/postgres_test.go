package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// pgConnect opens a session to the PostgreSQL database m keeps its data in.
func pgConnect(t *testing.T, m *Mongo) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), m.PostgreSQLURL())
	if err != nil {
		t.Fatalf("connect to %s: %v", m.PostgreSQLURL(), err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// scans are PostgreSQL's counts of whole-table and index reads of a table.
type scans struct{ seq, idx int64 }

// restartScans restarts m (same address and folder), which makes every
// FerretDB session end and so report its counts (sessions report them to
// PostgreSQL's statistics only every few seconds otherwise; a clean stop
// keeps them), then reads the counts of the table behind the collection
// purchases of database shop. It returns the restarted store.
func restartScans(t *testing.T, m *Mongo, dir string) (*Mongo, scans) {
	t.Helper()
	m.Close()
	m = startMongo(t, BackendPostgreSQL, m.Addr(), dir)
	conn := pgConnect(t, m)
	defer conn.Close(context.Background())
	var s scans
	err := conn.QueryRow(t.Context(), `SELECT seq_scan, coalesce(idx_scan, 0) FROM pg_stat_user_tables
		WHERE schemaname = 'shop' AND relname LIKE 'purchases\_%'`).Scan(&s.seq, &s.idx)
	if err != nil {
		t.Fatalf("read the scan counts: %v", err)
	}
	return m, s
}

// TestDevStore_lookups_read_through_an_index runs the shop's queries (the
// list, a later page, the duplicate check by _id, the Idempotency-Key look-up
// by key_id) on the PostgreSQL backend with cm-api's indexes, and wants
// PostgreSQL to have served each from an index, with no whole-table read;
// a query by a field without a MongoDB index does read the whole table.
func TestDevStore_lookups_read_through_an_index(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	dir := testDir(t)
	m := startMongo(t, BackendPostgreSQL, "127.0.0.1:0", dir)
	now := time.Now().UTC().Truncate(time.Millisecond)
	seedPurchases(t, m, now)
	m, before := restartScans(t, m, dir)

	c := connectMongo(t, m.URI())
	coll := c.Database("shop").Collection("purchases")
	newest := options.Find().SetSort(bson.D{{Key: "timestamp", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(4)
	queries := []struct {
		name   string
		filter bson.D
		want   int
	}{
		{"list_first_page", bson.D{{Key: "username", Value: "user-7"}}, 4},
		{"list_later_page", bson.D{{Key: "username", Value: "user-7"}, {Key: "$or", Value: bson.A{
			bson.D{{Key: "timestamp", Value: bson.D{{Key: "$lt", Value: now.Add(1000 * time.Second)}}}}}}}, 4},
		{"duplicate_check_by_id", bson.D{{Key: "_id", Value: "id-1234"}}, 1},
		{"key_look_up", bson.D{{Key: "key_id", Value: "key-1234"}}, 1},
	}
	for _, q := range queries {
		cur, err := coll.Find(t.Context(), q.filter, newest)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		var got []bson.M
		if err := cur.All(t.Context(), &got); err != nil || len(got) != q.want {
			t.Fatalf("%s: got %d documents (%v), want %d", q.name, len(got), err, q.want)
		}
	}
	disconnect(t, c)
	m, after := restartScans(t, m, dir)
	if idx, seq := after.idx-before.idx, after.seq-before.seq; idx != int64(len(queries)) || seq != 0 {
		t.Errorf("the shop's %d queries: got %d index and %d whole-table reads, want %d index reads and none of the whole table",
			len(queries), idx, seq, len(queries))
	}

	// The control: userid has no MongoDB index, so no GIN twin either.
	c = connectMongo(t, m.URI())
	if err := c.Database("shop").Collection("purchases").FindOne(t.Context(), bson.D{{Key: "userid", Value: "1234"}}).Err(); err != nil {
		t.Fatalf("find by userid: %v", err)
	}
	disconnect(t, c)
	_, control := restartScans(t, m, dir)
	if got := control.seq - after.seq; got != 1 {
		t.Errorf("a query by userid (no index): got %d whole-table reads, want 1", got)
	}
}

// seedPurchases gives the store cm-api's indexes and 2,000 purchases of
// 200 users, and the planner statistics autovacuum would soon gather.
func seedPurchases(t *testing.T, m *Mongo, now time.Time) {
	t.Helper()
	c := connectMongo(t, m.URI())
	defer disconnect(t, c)
	coll := c.Database("shop").Collection("purchases")
	for _, keys := range []bson.D{
		{{Key: "username", Value: 1}, {Key: "timestamp", Value: -1}, {Key: "_id", Value: -1}},
		{{Key: "key_id", Value: 1}},
	} {
		if _, err := coll.Indexes().CreateOne(t.Context(), mongo.IndexModel{Keys: keys}); err != nil {
			t.Fatalf("create index %v: %v", keys, err)
		}
	}
	var docs []any
	for i := range 2000 {
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("id-%d", i)}, {Key: "username", Value: fmt.Sprintf("user-%d", i%200)},
			{Key: "userid", Value: fmt.Sprint(i)}, {Key: "timestamp", Value: now.Add(time.Duration(i) * time.Second)},
			{Key: "key_id", Value: fmt.Sprintf("key-%d", i)}})
	}
	if _, err := coll.InsertMany(t.Context(), docs); err != nil {
		t.Fatalf("insert: %v", err)
	}
	conn := pgConnect(t, m)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "ANALYZE"); err != nil {
		t.Fatalf("analyze: %v", err)
	}
}

// TestDevStore_indexes_created_before_the_trigger_get_their_twin_at_start
// removes the trigger, creates an index, and restarts: the start-up gives
// the index its GIN twin, as for a store an earlier version made.
func TestDevStore_indexes_created_before_the_trigger_get_their_twin_at_start(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	dir := testDir(t)
	first := startMongo(t, BackendPostgreSQL, "127.0.0.1:0", dir)
	conn := pgConnect(t, first)
	if _, err := conn.Exec(t.Context(), "DROP EVENT TRIGGER shop_dev_gin"); err != nil {
		t.Fatalf("drop the trigger: %v", err)
	}
	c := connectMongo(t, first.URI())
	if _, err := c.Database("shop").Collection("purchases").Indexes().CreateOne(t.Context(),
		mongo.IndexModel{Keys: bson.D{{Key: "userid", Value: 1}}}); err != nil {
		t.Fatalf("create index: %v", err)
	}
	if got := ginTwins(t, conn, "userid"); got != 0 {
		t.Fatalf("GIN indexes on userid without the trigger: got %d, want 0", got)
	}
	conn.Close(t.Context())
	disconnect(t, c)
	first.Close()

	second := startMongo(t, BackendPostgreSQL, first.Addr(), dir)
	if got := ginTwins(t, pgConnect(t, second), "userid"); got != 1 {
		t.Errorf("GIN indexes on userid after a restart: got %d, want 1", got)
	}
}

// TestDevStore_indexes_are_gin_and_dropIndexes_still_works: the shop's
// indexes end up as GIN indexes on their leading field, the unique _id index
// stays a btree beside its twin, and no other btree is left for inserts to
// maintain; MongoDB's dropIndexes still drops a replaced index, and
// createIndexes again (cm-api's start-up) is a no-op.
func TestDevStore_indexes_are_gin_and_dropIndexes_still_works(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	m := startMongo(t, BackendPostgreSQL, "127.0.0.1:0", testDir(t))
	coll := connectMongo(t, m.URI()).Database("shop").Collection("purchases")
	list := mongo.IndexModel{Keys: bson.D{{Key: "username", Value: 1}, {Key: "timestamp", Value: -1}, {Key: "_id", Value: -1}}}
	for range 2 { // the second as cm-api's next start-up
		for _, idx := range []mongo.IndexModel{list, {Keys: bson.D{{Key: "key_id", Value: 1}}}} {
			if _, err := coll.Indexes().CreateOne(t.Context(), idx); err != nil {
				t.Fatalf("create index %v: %v", idx.Keys, err)
			}
		}
	}
	conn := pgConnect(t, m)
	for field, want := range map[string]int{"username": 1, "key_id": 1, "_id": 1} {
		if got := ginTwins(t, conn, field); got != want {
			t.Errorf("GIN indexes on %s: got %d, want %d", field, got, want)
		}
	}
	var btrees []string
	rows, err := conn.Query(t.Context(), `SELECT indexdef FROM pg_indexes WHERE schemaname = 'shop'
		AND tablename LIKE 'purchases\_%' AND indexdef LIKE '%USING btree%'`)
	if err != nil {
		t.Fatalf("list btree indexes: %v", err)
	}
	for rows.Next() {
		var def string
		if err := rows.Scan(&def); err != nil {
			t.Fatal(err)
		}
		btrees = append(btrees, def)
	}
	if len(btrees) != 1 || !strings.Contains(btrees[0], "UNIQUE") || !strings.Contains(btrees[0], "'_id'") {
		t.Errorf("btree indexes on purchases: got %q, want only the unique _id", btrees)
	}
	if err := coll.Indexes().DropOne(t.Context(), "key_id_1"); err != nil {
		t.Fatalf("dropIndexes key_id_1: %v", err)
	}
	if got := ginTwins(t, conn, "key_id"); got != 0 {
		t.Errorf("GIN indexes on key_id after dropIndexes: got %d, want 0", got)
	}
}

// ginTwins counts the GIN indexes on (_jsonb -> field) in schema shop.
func ginTwins(t *testing.T, conn *pgx.Conn, field string) int {
	t.Helper()
	var n int
	err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_indexes WHERE schemaname = 'shop'
		AND indexdef LIKE '%USING gin%' AND indexdef LIKE $1`, "%'"+field+"'::text%").Scan(&n)
	if err != nil {
		t.Fatalf("count GIN indexes: %v", err)
	}
	return n
}

// TestStartMongo_falls_back_to_sqlite_without_postgres hides PostgreSQL:
// by default the store runs on SQLite and says why; asked for PostgreSQL,
// StartMongo fails.
func TestStartMongo_falls_back_to_sqlite_without_postgres(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	saved := postgresInstallGlob
	postgresInstallGlob = filepath.Join(t.TempDir(), "*", "bin", "postgres")
	t.Cleanup(func() { postgresInstallGlob = saved })

	auto, err := StartMongo(t.Context(), "127.0.0.1:0", testDir(t))
	if err != nil {
		t.Fatalf("StartMongo without PostgreSQL: %v, want SQLite", err)
	}
	t.Cleanup(auto.Close)
	if auto.Backend() != BackendSQLite || !errors.Is(auto.Fallback(), ErrNoPostgres) {
		t.Errorf("without PostgreSQL: got backend %s and fallback %v, want sqlite and %v", auto.Backend(), auto.Fallback(), ErrNoPostgres)
	}
	if _, err := StartMongo(t.Context(), "127.0.0.1:0", testDir(t), WithBackend(BackendPostgreSQL)); !errors.Is(err, ErrNoPostgres) {
		t.Errorf("asked for PostgreSQL without it: got %v, want %v", err, ErrNoPostgres)
	}
}

// TestStartPostgres_as_root_needs_a_reachable_folder: as root the server
// runs as the postgres user, which cannot pass a 0700 folder of root's; the
// error says which folder.
func TestStartPostgres_as_root_needs_a_reachable_folder(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("only root hands the cluster to the postgres user")
	}
	requirePostgres(t)
	closed := t.TempDir() // 0700, root's
	_, err := StartPostgres(t.Context(), filepath.Join(closed, "cluster"))
	if err == nil || !strings.Contains(err.Error(), "cannot reach") || !strings.Contains(err.Error(), closed) {
		t.Errorf("StartPostgres under %s: got %v, want an error naming it", closed, err)
	}
}

// TestStartMongo_postgres_takes_a_relative_folder: make run keeps its store
// in .data/ferretdb, relative to the repository, while the server runs in /.
func TestStartMongo_postgres_takes_a_relative_folder(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, testDir(t))
	if err != nil {
		t.Fatal(err)
	}
	startMongo(t, BackendPostgreSQL, "127.0.0.1:0", rel)
	if _, err := os.Stat(filepath.Join(wd, rel, "postgresql", "PG_VERSION")); err != nil {
		t.Errorf("cluster under %s: %v", rel, err)
	}
}

// TestStartPostgres_stops_when_its_parent_dies starts PostgreSQL in a child
// process (this test binary again), kills that child with SIGKILL, and wants
// the server gone too: a killed make run leaves no PostgreSQL behind holding
// the cluster.
func TestStartPostgres_stops_when_its_parent_dies(t *testing.T) {
	t.Parallel()
	requirePostgres(t)
	dir := filepath.Join(testDir(t), "cluster")
	child := exec.Command(os.Args[0], "-test.run=^TestPostgresChild$")
	child.Env = append(os.Environ(), "STACK_TEST_POSTGRES_CHILD="+dir)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || !strings.HasPrefix(line, "ready") {
		t.Fatalf("child: got %q, %v; want ready", line, err)
	}
	pidFile, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		t.Fatalf("read postmaster.pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGQUIT) // it is ours: do not leave it running
			t.Fatalf("postgres (pid %d) still runs 20 s after its parent was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPostgresChild is the child of the test above; it does nothing unless
// run by it.
func TestPostgresChild(t *testing.T) {
	dir := os.Getenv("STACK_TEST_POSTGRES_CHILD")
	if dir == "" {
		t.Skip("the child process of TestStartPostgres_stops_when_its_parent_dies")
	}
	if _, err := StartPostgres(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	select {} // until killed
}
