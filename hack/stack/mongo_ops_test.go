package stack

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// The tests in this file pin down the MongoDB operations the shop's purchase
// store relies on, run through the official driver against FerretDB, with
// the outcome real MongoDB gives. If FerretDB ever diverges, they fail here
// rather than in the store's tests.

// purchaseDoc is the document shape the store writes.
type purchaseDoc struct {
	ID       string    `bson:"_id"`
	Username string    `bson:"username"`
	TS       time.Time `bson:"ts"`
	Price    int64     `bson:"price"`
}

// shopDB starts FerretDB on backend b and returns a fresh database on it.
func shopDB(t *testing.T, b Backend) *mongo.Database {
	t.Helper()
	m := startMongo(t, b, "127.0.0.1:0", testDir(t))
	return connectMongo(t, m.URI()).Database("shop")
}

func TestMongoOps_insert_one_duplicate_id_is_duplicate_key_error(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		coll := shopDB(t, b).Collection("purchases")
		doc := purchaseDoc{ID: "p1", Username: "alice", TS: time.Now(), Price: 1999}
		if _, err := coll.InsertOne(t.Context(), doc); err != nil {
			t.Fatalf("first insert: %v", err)
		}
		_, err := coll.InsertOne(t.Context(), doc)
		if !mongo.IsDuplicateKeyError(err) {
			t.Fatalf("second insert: got %v, want a duplicate key error", err)
		}
		var we mongo.WriteException
		if !errors.As(err, &we) || len(we.WriteErrors) != 1 || we.WriteErrors[0].Code != 11000 {
			t.Errorf("second insert: got %#v, want a WriteException with one code 11000 error", err)
		}
	})
}

func TestMongoOps_insert_many_unordered_inserts_all_but_duplicates(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		coll := shopDB(t, b).Collection("purchases")
		now := time.Now()
		docs := func(ids ...string) []purchaseDoc {
			var out []purchaseDoc
			for _, id := range ids {
				out = append(out, purchaseDoc{ID: id, Username: "alice", TS: now, Price: 100})
			}
			return out
		}
		if _, err := coll.InsertMany(t.Context(), docs("p1", "p3")); err != nil {
			t.Fatalf("seed: %v", err)
		}

		res, err := coll.InsertMany(t.Context(), docs("p1", "p2", "p3", "p4"), options.InsertMany().SetOrdered(false))
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) {
			t.Fatalf("insert many: got %T %v, want a BulkWriteException", err, err)
		}
		if !mongo.IsDuplicateKeyError(err) {
			t.Errorf("insert many: mongo.IsDuplicateKeyError = false, want true")
		}
		var got []string
		for _, we := range bwe.WriteErrors {
			if we.Code != 11000 {
				t.Errorf("write error %d: got code %d, want 11000", we.Index, we.Code)
			}
			got = append(got, fmt.Sprint(we.Index))
		}
		if want := []string{"0", "2"}; !slices.Equal(got, want) {
			t.Errorf("failed indexes: got %v, want %v", got, want)
		}
		if bwe.WriteConcernError != nil {
			t.Errorf("write concern error: got %v, want nil", bwe.WriteConcernError)
		}
		t.Logf("InsertMany result on partial failure: %+v", res)

		n, err := coll.CountDocuments(t.Context(), bson.D{})
		if err != nil {
			t.Fatalf("count: %v", err)
		}
		if n != 4 {
			t.Errorf("documents: got %d, want 4 (p2 and p4 inserted despite the duplicates)", n)
		}
	})
}

func TestMongoOps_write_concern_majority_is_accepted(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		wc := options.Collection().SetWriteConcern(writeconcern.Majority())
		coll := shopDB(t, b).Collection("purchases", wc)
		doc := purchaseDoc{ID: "p1", Username: "alice", TS: time.Now(), Price: 1}
		if _, err := coll.InsertOne(t.Context(), doc); err != nil {
			t.Fatalf("insert with w:majority: %v", err)
		}
		_, err := coll.InsertOne(t.Context(), doc)
		if !mongo.IsDuplicateKeyError(err) {
			t.Errorf("duplicate insert with w:majority: got %v, want a duplicate key error", err)
		}
		more := []any{purchaseDoc{ID: "p1"}, purchaseDoc{ID: "p2"}}
		_, err = coll.InsertMany(t.Context(), more, options.InsertMany().SetOrdered(false))
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 1 || bwe.WriteConcernError != nil {
			t.Errorf("insert many with w:majority: got %v, want one duplicate and no write concern error", err)
		}
	})
}

func TestMongoOps_create_compound_index(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		coll := shopDB(t, b).Collection("purchases")
		model := mongo.IndexModel{
			Keys:    bson.D{{Key: "username", Value: 1}, {Key: "ts", Value: -1}, {Key: "_id", Value: -1}},
			Options: options.Index().SetName("username_ts_id"),
		}
		for range 2 { // creating an existing index again must succeed, as on MongoDB
			names, err := coll.Indexes().CreateMany(t.Context(), []mongo.IndexModel{model})
			if err != nil {
				t.Fatalf("create index: %v", err)
			}
			if want := []string{"username_ts_id"}; !slices.Equal(names, want) {
				t.Errorf("index names: got %v, want %v", names, want)
			}
		}
		specs, err := coll.Indexes().ListSpecifications(t.Context())
		if err != nil {
			t.Fatalf("list indexes: %v", err)
		}
		var got []string
		for _, s := range specs {
			got = append(got, s.Name+" "+s.KeysDocument.String())
		}
		want := `username_ts_id {"username": {"$numberInt":"1"},"ts": {"$numberInt":"-1"},"_id": {"$numberInt":"-1"}}`
		if !slices.Contains(got, want) {
			t.Errorf("indexes: got %q, want one %q", got, want)
		}
	})
}
