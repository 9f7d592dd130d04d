package stack

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// startMongo starts FerretDB on a free loopback port and stops it when the
// test ends.
func startMongo(t *testing.T, addr, dir string) *Mongo {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	m, err := StartMongo(ctx, addr, dir, WithLogOutput(t.Output()))
	if err != nil {
		t.Fatalf("StartMongo(%q): %v", addr, err)
	}
	t.Logf("FerretDB listening on %s after %v", m.Addr(), time.Since(start))
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
	dir := t.TempDir()
	first := startMongo(t, "127.0.0.1:0", dir)
	c := connectMongo(t, first.URI())
	coll := c.Database("shop").Collection("purchases")
	if _, err := coll.InsertOne(t.Context(), bson.D{{Key: "_id", Value: "p1"}}); err != nil {
		t.Fatalf("insert: %v", err)
	}
	disconnect(t, c)
	start := time.Now()
	first.Close()
	t.Logf("FerretDB stopped after %v", time.Since(start))

	second := startMongo(t, first.Addr(), dir)
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
}

func TestStartMongo_stop_while_client_connected_returns(t *testing.T) {
	t.Parallel()
	m := startMongo(t, "127.0.0.1:0", t.TempDir())
	c := connectMongo(t, m.URI())
	start := time.Now()
	m.Close()
	t.Logf("FerretDB stopped with a connected client after %v", time.Since(start))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx, nil); err == nil {
		t.Errorf("ping after Close: got nil error, want one")
	}
}

func TestStartMongo_several_instances_run_side_by_side(t *testing.T) {
	t.Parallel()
	const n = 3
	servers := make([]*Mongo, n)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() {
			m, err := StartMongo(t.Context(), "127.0.0.1:0", t.TempDir())
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
}

func TestStartMongo_addr_in_use_fails(t *testing.T) {
	t.Parallel()
	m := startMongo(t, "127.0.0.1:0", t.TempDir())
	other, err := StartMongo(t.Context(), m.Addr(), t.TempDir())
	if err == nil {
		other.Close()
		t.Fatalf("StartMongo on busy %s: got nil error, want one", m.Addr())
	}
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
	m, err := StartMongo(t.Context(), "127.0.0.1:0", t.TempDir())
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
}
