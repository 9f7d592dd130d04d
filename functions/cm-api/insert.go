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

// maxInsertBytes bounds one insert command's documents: MongoDB refuses a
// command over 16 MiB, which BATCH_MAX_SIZE large purchases could near.
const maxInsertBytes = 8 << 20

// insertAll writes the items with InsertMany's command (unordered, majority
// write concern, to the primary) built with bsoncore, without reflection
// (docs/performance.md, "Fast paths: measured and decided"); a failed batch
// is retried by cm-api, not by the driver. It returns the documents' write
// errors by index into items; an error leaves the whole batch unknown.
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

// insertCommand sends one insert of docs, the first at index first.
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

// writeErrors splits an insert command's outcome into the documents it
// refused, by index into the batch, and an error of the whole command. An
// unordered insert writes every document it does not list in writeErrors;
// when the command failed in a way that passes (transientStoreError), the
// write errors are not per-document outcomes.
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

// appendDocument appends the purchase as stored, what bson.Marshal writes
// for its document (FuzzAppendDocument).
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
