package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// A batch of purchases is written with MongoDB's insert command, built here
// with bsoncore, rather than with Collection.InsertMany, which encodes each
// document by reflection and then decodes every document's _id back to
// return it (mongo.ensureID), for ids cm-api already knows: it saves more
// than a tenth of cm-api's CPU per stored purchase (docs/performance.md,
// "Fast paths: measured and decided"). The command is the one InsertMany
// sends: unordered, majority write concern, sent to the primary. What it
// does not do is the driver's one automatic retry of a write after a
// failover (retryable writes); a batch that fails is retried by cm-api's
// own retrying path, and the _id makes the retry store each purchase once
// (a duplicate key is then read back and compared, as for a redelivery).

// maxInsertBytes bounds one insert command: MongoDB refuses a command
// document over 16 MiB, and BATCH_MAX_SIZE purchases of the largest size
// could come near it, so a batch is cut into commands of at most this many
// bytes of documents.
const maxInsertBytes = 8 << 20

// insertAll writes the items with as few insert commands as maxInsertBytes
// allows and returns every document's write error, indexed into items. An
// error means the outcome of the whole batch is unknown: the command failed,
// or its writes are not known to be durable (a write-concern error).
func (s *mongoStore) insertAll(ctx context.Context, items []saveItem) ([]mongo.WriteError, error) {
	var refused []mongo.WriteError
	docs := make([]bsoncore.Document, 0, len(items))
	first, size := 0, 0
	for i, it := range items {
		d := appendDocument(nil, it)
		if size+len(d) > maxInsertBytes && len(docs) > 0 {
			wes, err := s.insertCommand(ctx, docs, first)
			if err != nil {
				return nil, err
			}
			refused = append(refused, wes...)
			docs, first, size = docs[:0], i, 0
		}
		docs = append(docs, d)
		size += len(d)
	}
	wes, err := s.insertCommand(ctx, docs, first)
	if err != nil {
		return nil, err
	}
	return append(refused, wes...), nil
}

// insertCommand sends one unordered insert of docs, which start at index
// first of the batch.
func (s *mongoStore) insertCommand(ctx context.Context, docs []bsoncore.Document, first int) ([]mongo.WriteError, error) {
	start, cmd := bsoncore.AppendDocumentStart(nil)
	cmd = bsoncore.AppendStringElement(cmd, "insert", s.coll.Name())
	arr, cmd := bsoncore.AppendArrayElementStart(cmd, "documents")
	for i, d := range docs {
		cmd = bsoncore.AppendDocumentElement(cmd, strconv.Itoa(i), d)
	}
	cmd, _ = bsoncore.AppendArrayEnd(cmd, arr)
	cmd = bsoncore.AppendBooleanElement(cmd, "ordered", false)
	cmd = bsoncore.AppendDocumentElement(cmd, "writeConcern", majority)
	cmd, _ = bsoncore.AppendDocumentEnd(cmd, start)
	err := s.coll.Database().RunCommand(ctx, bson.Raw(cmd), options.RunCmd().SetReadPreference(readpref.Primary())).Err()
	return writeErrors(err, len(docs), first)
}

// writeErrors splits the outcome of an insert command of n documents, the
// first at index first of the batch, into the documents it refused and an
// error of the whole command. The driver turns a reply's writeErrors and
// writeConcernError into a WriteException, as it does for InsertMany. The
// insert is unordered: the server tries every document and reports each
// one it refused, by index, among writeErrors; the others are written.
// Those are per-document outcomes unless the command as a whole failed in
// a way that passes (transientStoreError: a write-concern error, a
// retryable label), when the whole batch is retried.
func writeErrors(err error, n, first int) ([]mongo.WriteError, error) {
	var wex mongo.WriteException
	if errors.As(err, &wex) && !transientStoreError(err) && len(wex.WriteErrors) > 0 {
		refused := slices.Clone(wex.WriteErrors)
		for i := range refused {
			refused[i].Index += first
		}
		return refused, nil
	}
	if err != nil {
		return nil, fmt.Errorf("insert %d purchases: %w", n, err)
	}
	return nil, nil
}

// majority is the write concern of every write: {w: "majority"}.
var majority = bsoncore.NewDocumentBuilder().AppendString("w", "majority").Build()

// appendDocument appends the purchase as stored: what bson.Marshal writes
// for toDocument(it), field for field (FuzzAppendDocument).
func appendDocument(dst []byte, it saveItem) bsoncore.Document {
	p := it.p
	start, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendStringElement(dst, "_id", p.ID)
	dst = bsoncore.AppendStringElement(dst, "username", p.Username)
	dst = bsoncore.AppendStringElement(dst, "userid", p.UserID)
	dst = bsoncore.AppendInt64Element(dst, "price_minor", int64(p.Price))
	dst = bsoncore.AppendDateTimeElement(dst, "timestamp", p.Timestamp.UnixMilli())
	for _, e := range [...]struct{ key, value string }{{"traceparent", it.traceparent},
		{"ce_id", p.Origin.EventID}, {"ce_source", p.Origin.EventSource}, {"key_id", p.KeyID}} {
		if e.value != "" {
			dst = bsoncore.AppendStringElement(dst, e.key, e.value)
		}
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, start)
	return dst
}
