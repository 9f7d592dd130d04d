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

// store keeps purchases and keys' claims: mongoStore, or a test's fake.
// SaveMany is idempotent on the purchase id: a purchase saved twice is
// stored once and reported the second time as a duplicate.
type store interface {
	SaveMany(ctx context.Context, items []saveItem) []saveResult
	List(ctx context.Context, username string, page purchase.Page) (ps []purchase.Purchase, next string, err error)
	Claim(ctx context.Context, c claim) (claimOutcome, error)
}

// document is a purchase as stored: money in minor units, the time a BSON
// date (milliseconds, like the API).
type document struct {
	ID          string    `bson:"_id"`
	Username    string    `bson:"username"`
	UserID      string    `bson:"userid"`
	PriceMinor  int64     `bson:"price_minor"`
	Timestamp   time.Time `bson:"timestamp"`
	TraceParent string    `bson:"traceparent,omitempty"` // the trace it was bought in
	EventID     string    `bson:"ce_id,omitempty"`       // a client CloudEvent's own id
	EventSource string    `bson:"ce_source,omitempty"`   // and source
	KeyID       string    `bson:"key_id,omitempty"`      // the client's Idempotency-Key
}

func (d document) purchase() purchase.Purchase {
	return purchase.Purchase{ID: d.ID, Username: d.Username, UserID: d.UserID,
		Price: purchase.Money(d.PriceMinor), Timestamp: d.Timestamp.UTC(),
		Origin: purchase.Origin{EventID: d.EventID, EventSource: d.EventSource}, KeyID: d.KeyID}
}

// mongoStore is the MongoDB store. Every write waits for a majority of the
// replica set.
type mongoStore struct {
	client *mongo.Client
	coll   *mongo.Collection
	claims *mongo.Collection
}

// mongoConfig is how to reach the store; TLS is set in the URI.
type mongoConfig struct {
	URI, Database      string
	Username, Password string
	AuthSource         string
	Timeout            time.Duration
	Monitor            *event.CommandMonitor // sees every command sent (tests)
}

// openMongo prepares a client; the driver connects lazily.
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

// EnsureIndexes creates the index List needs, if missing.
func (s *mongoStore) EnsureIndexes(ctx context.Context) error {
	if _, err := s.coll.Indexes().CreateOne(ctx, listIndex()); err != nil {
		return fmt.Errorf("create index %s: %w", listIndexName, err)
	}
	return nil
}

// SaveMany inserts the items (insertAll) and reports each one's outcome: a
// duplicate, errConflict, a *refusal (the purchase alone fails for good) or
// a transient error. An error of the whole write fails all, as transient.
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

// outcomes turns what insertAll returned into each purchase's result, and
// returns the duplicate keys on _id (or on an index the server did not
// name) for checkDuplicates to settle.
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

// checkDuplicates reads the stored purchase of each duplicate key by _id
// and compares. When none has the id, the duplicate is on another unique
// index if the server did not say which (FerretDB sends no keyPattern): a
// refusal; if it said _id, the stored one was rolled back: transient.
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
