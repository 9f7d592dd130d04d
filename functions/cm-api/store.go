package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// errConflict means a purchase id is already stored for a different purchase.
var errConflict = errors.New("purchase id already used by a different purchase")

// store keeps purchases and keys' claims: mongoStore, and the tests' fakes.
// SaveMany writes a batch in one round trip with one result each, and is
// idempotent on the purchase id: saving the same purchase twice stores it
// once and reports the second as a duplicate. Writes reach it through the
// group commit (batcher).
type store interface {
	SaveMany(ctx context.Context, items []saveItem) []saveResult
	List(ctx context.Context, username string, page purchase.Page) (ps []purchase.Purchase, next string, err error)
	// Claim binds a key to one purchase, atomically (claims.go).
	Claim(ctx context.Context, c claim) (claimOutcome, error)
}

// document is a purchase as stored. Money is an integer of minor units and
// the timestamp a BSON date (millisecond precision, like the API).
type document struct {
	ID         string    `bson:"_id"`
	Username   string    `bson:"username"`
	UserID     string    `bson:"userid"`
	PriceMinor int64     `bson:"price_minor"`
	Timestamp  time.Time `bson:"timestamp"`
	// TraceParent is the W3C trace the purchase was bought in, so a stored
	// purchase leads back to its request's logs.
	TraceParent string `bson:"traceparent,omitempty"`
	// EventID and EventSource are the client's own CloudEvent id and source,
	// when it posted the purchase as a CloudEvent (_id is derived from both).
	EventID     string `bson:"ce_id,omitempty"`
	EventSource string `bson:"ce_source,omitempty"`
	// KeyID names the client's Idempotency-Key, if it sent one.
	KeyID string `bson:"key_id,omitempty"`
}

func toDocument(it saveItem) document {
	p := it.p
	return document{p.ID, p.Username, p.UserID, int64(p.Price), p.Timestamp, it.traceparent,
		p.Origin.EventID, p.Origin.EventSource, p.KeyID}
}

func (d document) purchase() purchase.Purchase {
	return purchase.Purchase{ID: d.ID, Username: d.Username, UserID: d.UserID,
		Price: purchase.Money(d.PriceMinor), Timestamp: d.Timestamp.UTC(),
		Origin: purchase.Origin{EventID: d.EventID, EventSource: d.EventSource}, KeyID: d.KeyID}
}

// listKeys is List's order after the equality on username: newest first,
// ties by id.
var listKeys = bson.D{{Key: "username", Value: 1}, {Key: "timestamp", Value: -1}, {Key: "_id", Value: -1}}

// listIndex serves List: equality on username, then the sort order. It is
// made anew for each use: the driver writes into an index's options.
func listIndex() mongo.IndexModel {
	return mongo.IndexModel{Keys: listKeys, Options: options.Index().SetName(listIndexName)}
}

const listIndexName = "username_timestamp_id"

// listProjection reads only what a list shows.
var listProjection = bson.D{{Key: "username", Value: 1}, {Key: "userid", Value: 1},
	{Key: "price_minor", Value: 1}, {Key: "timestamp", Value: 1}}

// mongoStore is the MongoDB store. Writes use majority write concern: a
// purchase is acknowledged only once a majority of the replica set has it.
type mongoStore struct {
	client *mongo.Client
	coll   *mongo.Collection
	claims *mongo.Collection
}

// mongoConfig is how to reach the store. TLS is set in the URI
// (tls=true&tlsCAFile=...); credentials in the URI or, kept apart from it in
// a Secret, as username and password.
type mongoConfig struct {
	URI, Database      string
	Username, Password string
	AuthSource         string
	Timeout            time.Duration
	// Monitor, when set, sees every command the driver sends (tests).
	Monitor *event.CommandMonitor
}

// openMongo prepares a client; the driver connects lazily, so this does not
// wait for the server.
func openMongo(c mongoConfig) (*mongoStore, error) {
	opts := options.Client().ApplyURI(c.URI).
		SetServerSelectionTimeout(c.Timeout).SetConnectTimeout(c.Timeout).SetAppName("cm-api").SetMonitor(c.Monitor)
	if c.Username != "" {
		opts.SetAuth(options.Credential{Username: c.Username, Password: c.Password, AuthSource: c.AuthSource})
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("configure MongoDB client: %w", err)
	}
	majority := options.Collection().SetWriteConcern(writeconcern.Majority())
	db := client.Database(c.Database)
	return &mongoStore{client: client, coll: db.Collection("purchases", majority),
		claims: db.Collection(claimsCollection, majority)}, nil
}

// EnsureIndexes creates the index List needs; it is a no-op when it exists.
func (s *mongoStore) EnsureIndexes(ctx context.Context) error {
	if _, err := s.coll.Indexes().CreateOne(ctx, listIndex()); err != nil {
		return fmt.Errorf("create index %s: %w", listIndexName, err)
	}
	return nil
}

// SaveMany inserts the items with unordered inserts (insertAll) and reports
// each one's outcome: an id already stored is a duplicate when it is the
// same purchase and errConflict when not; a purchase the store refuses for
// good (refusalOf) is a *refusal, errRefused, and fails alone, its
// batch-mates written. Any other write error is transient. An error of the
// whole write (a write-concern error too: the writes are not known to be
// durable, and their retries are duplicates) fails all, as transient.
func (s *mongoStore) SaveMany(ctx context.Context, items []saveItem) []saveResult {
	ps := make([]purchase.Purchase, len(items))
	for i, it := range items {
		ps[i] = it.p
	}
	refused, err := s.insertAll(ctx, items)
	results, dups := outcomes(ps, refused, err)
	s.checkDuplicates(ctx, ps, dups, results)
	return results
}

// outcomes turns what insertAll returned for ps into each purchase's
// result, and the duplicate-key errors on _id (or on an index the server
// did not name) that checkDuplicates must settle by reading.
func outcomes(ps []purchase.Purchase, refused []mongo.WriteError, err error) ([]saveResult, []mongo.WriteError) {
	results := make([]saveResult, len(ps))
	if err != nil {
		for i := range results {
			results[i].err = fmt.Errorf("store %d purchases: %w", len(ps), err)
		}
		return results, nil
	}
	var dups []mongo.WriteError
	for _, we := range refused {
		id := ps[we.Index].ID
		switch {
		case we.Code == duplicateKeyCode && duplicateOn(we) == dupOnOther:
			results[we.Index].err = fmt.Errorf("store purchase %s: %w", id, duplicateElsewhere(we))
		case we.Code == duplicateKeyCode:
			dups = append(dups, we)
		case refusalOf(we) != nil:
			results[we.Index].err = fmt.Errorf("store purchase %s: %w", id, refusalOf(we))
		default:
			results[we.Index].err = fmt.Errorf("store purchase %s: %w", id, we)
		}
	}
	return results, dups
}

// checkDuplicates compares the purchases of the duplicate-key errors dups
// with the stored ones, each read by its _id: duplicates are rare
// (redeliveries). When the server did not say which index the duplicate is
// on (MongoDB before 4.4 and FerretDB, the dev store, send no keyPattern)
// and no purchase has the id, it is on another unique index: a refusal. When it said _id and none has it, the stored one was rolled
// back meanwhile: transient.
func (s *mongoStore) checkDuplicates(ctx context.Context, ps []purchase.Purchase, dups []mongo.WriteError, results []saveResult) {
	for _, we := range dups {
		d := we.Index
		var stored document
		err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: ps[d].ID}}).Decode(&stored)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments) && duplicateOn(we) == dupOnUnknown:
			results[d].err = fmt.Errorf("store purchase %s: %w", ps[d].ID, duplicateElsewhere(we))
		case errors.Is(err, mongo.ErrNoDocuments):
			results[d].err = fmt.Errorf("store purchase %s: duplicate key but no stored document", ps[d].ID)
		case err != nil:
			results[d].err = fmt.Errorf("read stored purchase %s: %w", ps[d].ID, err)
		case !stored.purchase().Equivalent(ps[d]):
			results[d].err = fmt.Errorf("store purchase %s: %w", ps[d].ID, errConflict)
		default:
			results[d].duplicate = true
		}
	}
}

// List returns one page of a user's purchases, newest first, with the cursor
// of the next page ("" on the last). It reads limit+1 documents to know
// whether there is a next page, so it never counts.
func (s *mongoStore) List(ctx context.Context, username string, page purchase.Page) ([]purchase.Purchase, string, error) {
	q, err := newListQuery(username, page)
	if err != nil {
		return nil, "", err
	}
	opts := options.Find().SetSort(q.sort).SetLimit(q.limit).SetProjection(q.projection)
	cur, err := s.coll.Find(ctx, q.filter, opts)
	if err != nil {
		return nil, "", fmt.Errorf("list purchases of %q: %w", username, err)
	}
	var docs []document
	if err := cur.All(ctx, &docs); err != nil {
		return nil, "", fmt.Errorf("read purchases of %q: %w", username, err)
	}
	next := ""
	if len(docs) > page.Limit {
		docs = docs[:page.Limit]
		last := docs[len(docs)-1]
		next = encodeCursor(cursor{Timestamp: last.Timestamp, ID: last.ID})
	}
	out := make([]purchase.Purchase, len(docs))
	for i, d := range docs {
		out[i] = d.purchase()
	}
	return out, next, nil
}

// listQuery is the find List sends: the user's purchases after the cursor,
// in listIndex's order (so the index serves filter and sort), limit+1 of them,
// only the fields a list shows.
type listQuery struct {
	filter, sort, projection bson.D
	limit                    int64
}

func newListQuery(username string, page purchase.Page) (listQuery, error) {
	filter := bson.D{{Key: "username", Value: username}}
	if page.Cursor != "" {
		c, err := decodeCursor(page.Cursor)
		if err != nil {
			return listQuery{}, err
		}
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "timestamp", Value: bson.D{{Key: "$lt", Value: c.Timestamp}}}},
			bson.D{{Key: "timestamp", Value: c.Timestamp}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: c.ID}}}},
		}})
	}
	return listQuery{filter: filter, sort: listKeys, projection: listProjection,
		limit: int64(page.Limit) + 1}, nil
}

// Ping checks that the primary answers.
func (s *mongoStore) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("ping MongoDB: %w", err)
	}
	return nil
}

// Close disconnects, waiting for operations under way up to ctx.
func (s *mongoStore) Close(ctx context.Context) error {
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("disconnect MongoDB: %w", err)
	}
	return nil
}
