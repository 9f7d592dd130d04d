package stack

import (
	"context"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// forEachBackend runs test once per backend, in parallel subtests. Without
// PostgreSQL its subtest is skipped, unless DEV_STORE=postgresql (CI) says
// it must be there.
func forEachBackend(t *testing.T, test func(t *testing.T, b Backend)) {
	for _, b := range []Backend{BackendPostgreSQL, BackendSQLite} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			if b == BackendPostgreSQL {
				requirePostgres(t)
			}
			test(t, b)
		})
	}
}

// requirePostgres skips the test where PostgreSQL is not installed, unless
// DEV_STORE=postgresql.
func requirePostgres(t *testing.T) {
	t.Helper()
	if _, err := postgresBinDir(); err != nil {
		if os.Getenv("DEV_STORE") == string(BackendPostgreSQL) {
			t.Fatalf("DEV_STORE=postgresql: %v", err)
		}
		t.Skipf("%v; the SQLite backend is tested", err)
	}
}

// testDir is a data folder for StartMongo, removed when the test ends:
// t.TempDir's parent is closed to the postgres user (see MkdirTemp).
func testDir(t *testing.T) string {
	t.Helper()
	dir, err := MkdirTemp("stack-test-")
	if err != nil {
		t.Fatalf("data folder: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startMongo starts FerretDB on backend b and stops it when the test ends.
func startMongo(t *testing.T, b Backend, addr, dir string) *Mongo {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	m, err := StartMongo(ctx, addr, dir, WithLogOutput(t.Output()), WithBackend(b))
	if err != nil {
		t.Fatalf("StartMongo(%q): %v", addr, err)
	}
	if m.Backend() != b {
		t.Fatalf("backend: got %s, want %s", m.Backend(), b)
	}
	t.Logf("FerretDB on %s listening on %s after %v", b, m.Addr(), time.Since(start))
	t.Cleanup(m.Close)
	return m
}

// connectMongo connects the official driver to uri, pings it, and
// disconnects when the test ends (before a server started earlier stops).
func connectMongo(t *testing.T, uri string) *mongo.Client {
	t.Helper()
	start := time.Now()
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(10 * time.Second))
	if err != nil {
		t.Fatalf("connect %s: %v", uri, err)
	}
	t.Cleanup(func() { disconnect(t, c) })
	if err := c.Ping(t.Context(), nil); err != nil {
		t.Fatalf("ping %s: %v", uri, err)
	}
	t.Logf("connected and pinged %s after %v", uri, time.Since(start))
	return c
}

func disconnect(t *testing.T, c *mongo.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Disconnect(ctx); err != nil && err != mongo.ErrClientDisconnected {
		t.Errorf("disconnect: %v", err)
	}
}

func TestStartMongo_restart_on_same_addr_and_dir_keeps_data(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		dir := testDir(t)
		first := startMongo(t, b, "127.0.0.1:0", dir)
		c := connectMongo(t, first.URI())
		coll := c.Database("shop").Collection("purchases")
		if _, err := coll.InsertOne(t.Context(), bson.D{{Key: "_id", Value: "p1"}}); err != nil {
			t.Fatalf("insert: %v", err)
		}
		disconnect(t, c)
		start := time.Now()
		first.Close()
		t.Logf("FerretDB stopped after %v", time.Since(start))

		second := startMongo(t, b, first.Addr(), dir)
		if got, want := second.URI(), first.URI(); got != want {
			t.Errorf("restarted URI: got %s, want %s", got, want)
		}
		c = connectMongo(t, second.URI())
		n, err := c.Database("shop").Collection("purchases").CountDocuments(t.Context(), bson.D{{Key: "_id", Value: "p1"}})
		if err != nil {
			t.Fatalf("count after restart: %v", err)
		}
		if n != 1 {
			t.Errorf("documents after restart: got %d, want 1", n)
		}
	})
}

func TestStartMongo_stop_while_client_connected_returns(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		m := startMongo(t, b, "127.0.0.1:0", testDir(t))
		c := connectMongo(t, m.URI())
		start := time.Now()
		m.Close()
		t.Logf("FerretDB stopped with a connected client after %v", time.Since(start))
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		if err := c.Ping(ctx, nil); err == nil {
			t.Errorf("ping after Close: got nil error, want one")
		}
	})
}

func TestStartMongo_several_instances_run_side_by_side(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		const n = 3
		servers := make([]*Mongo, n)
		var wg sync.WaitGroup
		for i := range servers {
			wg.Go(func() {
				m, err := StartMongo(t.Context(), "127.0.0.1:0", testDir(t), WithBackend(b))
				if err != nil {
					t.Errorf("StartMongo #%d: %v", i, err)
					return
				}
				servers[i] = m
			})
		}
		wg.Wait()
		for _, m := range servers {
			if m != nil {
				t.Cleanup(m.Close)
			}
		}
		if t.Failed() {
			return
		}
		for i, m := range servers {
			c := connectMongo(t, m.URI())
			id := bson.D{{Key: "_id", Value: i}}
			if _, err := c.Database("shop").Collection("c").InsertOne(t.Context(), id); err != nil {
				t.Fatalf("insert into #%d: %v", i, err)
			}
			count, err := c.Database("shop").Collection("c").CountDocuments(t.Context(), bson.D{})
			if err != nil {
				t.Fatalf("count in #%d: %v", i, err)
			}
			if count != 1 {
				t.Errorf("documents in #%d: got %d, want 1 (instances must not share data)", i, count)
			}
		}
	})
}

func TestStartMongo_addr_in_use_fails(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		m := startMongo(t, b, "127.0.0.1:0", testDir(t))
		other, err := StartMongo(t.Context(), m.Addr(), testDir(t), WithBackend(b))
		if err == nil {
			other.Close()
			t.Fatalf("StartMongo on busy %s: got nil error, want one", m.Addr())
		}
	})
}

func TestLoopbackAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: ":0", want: "127.0.0.1:0"},
		{in: "0.0.0.0:9092", want: "127.0.0.1:9092"},
		{in: "[::]:27017", want: "127.0.0.1:27017"},
		{in: "127.0.0.1:27017", want: "127.0.0.1:27017"},
		{in: "localhost:1", want: "localhost:1"},
		{in: "no-port", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := loopbackAddr(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error: got %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FerretDB panics from a finalizer when the garbage collector finds one of
// its resources unclosed, which would crash the whole test binary at a
// random moment. Make the collector look right after a full lifecycle.
func TestStartMongo_close_releases_everything(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		m, err := StartMongo(t.Context(), "127.0.0.1:0", testDir(t), WithBackend(b))
		if err != nil {
			t.Fatalf("StartMongo: %v", err)
		}
		c := connectMongo(t, m.URI())
		if _, err := c.Database("shop").Collection("c").InsertOne(t.Context(), bson.D{{Key: "_id", Value: 1}}); err != nil {
			t.Fatalf("insert: %v", err)
		}
		disconnect(t, c)
		m.Close()
		m.Close() // idempotent
		for range 3 {
			runtime.GC()
			time.Sleep(20 * time.Millisecond) // let finalizers run
		}
	})
}
