package stack

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// BenchmarkDevStoreInsert stores purchases as cm-api does (unordered
// insertMany, majority write concern, cm-api's three indexes) in batches of
// 1 (one POST at a time), 30 (HTTP-mode group commit under load) and 1,000
// (a Kafka backlog), on each backend: the dev store on PostgreSQL must not
// store slower than on SQLite (make bench-micro; docs/performance.md).
func BenchmarkDevStoreInsert(b *testing.B) {
	for _, backend := range []Backend{BackendPostgreSQL, BackendSQLite} {
		b.Run(string(backend), func(b *testing.B) {
			if backend == BackendPostgreSQL {
				if _, err := postgresBinDir(); err != nil {
					b.Skip(err)
				}
			}
			dir, err := MkdirTemp("stack-bench-")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = os.RemoveAll(dir) })
			m, err := StartMongo(b.Context(), "127.0.0.1:0", dir, WithBackend(backend))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(m.Close)
			client, err := mongo.Connect(options.Client().ApplyURI(m.URI()))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = client.Disconnect(b.Context()) })
			coll := client.Database("shop").Collection("purchases", options.Collection().SetWriteConcern(writeconcern.Majority()))
			for _, keys := range []bson.D{
				{{Key: "username", Value: 1}, {Key: "timestamp", Value: -1}, {Key: "_id", Value: -1}},
				{{Key: "key_id", Value: 1}},
			} {
				if _, err := coll.Indexes().CreateOne(b.Context(), mongo.IndexModel{Keys: keys}); err != nil {
					b.Fatal(err)
				}
			}
			next := 0
			for _, batch := range []int{1, 30, 1000} {
				b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
					docs := make([]any, batch)
					for b.Loop() {
						for i := range docs {
							next++
							docs[i] = bson.D{{Key: "_id", Value: fmt.Sprintf("p-%d", next)}, {Key: "username", Value: fmt.Sprintf("user-%d", next%1000)},
								{Key: "userid", Value: "u"}, {Key: "price_minor", Value: int64(next)}, {Key: "timestamp", Value: time.UnixMilli(int64(next))},
								{Key: "key_id", Value: fmt.Sprintf("k-%d", next)}}
						}
						if _, err := coll.InsertMany(b.Context(), docs, options.InsertMany().SetOrdered(false)); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "purchases/s")
				})
			}
		})
	}
}
