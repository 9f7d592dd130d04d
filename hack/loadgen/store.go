package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

// serveStoreCmd is the hidden subcommand that runs the embedded FerretDB in
// a process of its own, so its CPU and memory are not loadgen's.
const serveStoreCmd = "serve-store"

// uriPrefix starts the line serve-store prints once it listens, after the
// line starting with backendPrefix.
const (
	uriPrefix     = "MONGODB_URI="
	backendPrefix = "BACKEND="
)

// serveStore runs FerretDB as `make run` does (on PostgreSQL under dir, or
// SQLite; DEV_STORE chooses) on a free loopback port until ctx ends, after
// printing its URI and backend.
func serveStore(ctx context.Context, dir string, stdout io.Writer) error {
	backend, err := stack.ParseBackend(os.Getenv("DEV_STORE"))
	if err != nil {
		return err
	}
	m, err := stack.StartMongo(ctx, "127.0.0.1:0", dir, stack.WithBackend(backend))
	if err != nil {
		return err
	}
	defer m.Close()
	if m.Fallback() != nil {
		fmt.Fprintf(stdout, "on SQLite, not PostgreSQL: %v\n", m.Fallback())
	}
	fmt.Fprintln(stdout, backendPrefix+string(m.Backend()))
	fmt.Fprintln(stdout, uriPrefix+m.URI())
	<-ctx.Done()
	return nil
}

// startStore starts serve-store as a child and waits for its URI; it says
// which backend the store runs on.
func startStore(ctx context.Context, cs *children, workDir string) (c *child, uri, backend string, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", "", err
	}
	c, err = cs.start("ferretdb", self, []string{serveStoreCmd, filepath.Join(workDir, "ferretdb")},
		[]string{"DEV_STORE=" + os.Getenv("DEV_STORE")})
	if err != nil {
		return nil, "", "", err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil && !c.exited() {
		if uri := findLine(c.logPath, uriPrefix); uri != "" {
			return c, uri, findLine(c.logPath, backendPrefix), nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, "", "", c.failure(fmt.Errorf("no %s line within 60 s", uriPrefix))
}

// startSelf starts loadgen itself with args as a child called name and
// waits until it prints a line starting with prefix; it returns the rest of
// that line.
func startSelf(ctx context.Context, cs *children, name, prefix string, args ...string) (*child, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	c, err := cs.start(name, self, args, nil)
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil && !c.exited() {
		if v := findLine(c.logPath, prefix); v != "" {
			return c, v, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, "", c.failure(fmt.Errorf("no %s line within 60 s", prefix))
}

// findLine returns the rest of the first line in the file at path that
// starts with prefix, or "".
func findLine(path, prefix string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			return rest
		}
	}
	return ""
}

// storedPurchase is a purchase in cm-api's document shape (see
// functions/cm-api/store.go): money in integer minor units, a BSON date.
type storedPurchase struct {
	ID         string    `bson:"_id"`
	Username   string    `bson:"username"`
	UserID     string    `bson:"userid"`
	PriceMinor int64     `bson:"price_minor"`
	Timestamp  time.Time `bson:"timestamp"`
}

// listKeys are the keys of cm-api's index for the list query, and its sort.
var listKeys = bson.D{{Key: "username", Value: 1}, {Key: "timestamp", Value: -1}, {Key: "_id", Value: -1}}

// listIndex is cm-api's index for the list query; the raw references use it
// too, so they pay for the same index maintenance. It is made anew for each
// use: the driver writes into an index's options.
func listIndex() mongo.IndexModel {
	return mongo.IndexModel{Keys: listKeys, Options: options.Index().SetName("username_timestamp_id")}
}

// connectStore connects loadgen's own client to the store.
func connectStore(uri string) (*mongo.Client, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetAppName("loadgen").
		SetServerSelectionTimeout(10 * time.Second).SetTimeout(2 * time.Minute))
	if err != nil {
		return nil, fmt.Errorf("connect to the store: %w", err)
	}
	return client, nil
}

// purchases is db's purchases collection with cm-api's write concern.
func purchases(client *mongo.Client, db string) *mongo.Collection {
	return client.Database(db).Collection("purchases", options.Collection().SetWriteConcern(writeconcern.Majority()))
}

// insertAll inserts n documents made by doc with insertMany (batches of
// 1000, unordered), counting them in done, and returns how long it took.
func insertAll(ctx context.Context, coll *mongo.Collection, n int, doc func(i int) storedPurchase, done *atomic.Int64) (time.Duration, error) {
	const batch = 1000
	start := time.Now()
	docs := make([]storedPurchase, 0, batch)
	for i := 0; i < n; i += batch {
		docs = docs[:0]
		for j := i; j < min(i+batch, n); j++ {
			docs = append(docs, doc(j))
		}
		if _, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
			return 0, fmt.Errorf("insertMany %d documents at %d: %w", len(docs), i, err)
		}
		done.Add(int64(len(docs)))
	}
	return time.Since(start), nil
}
