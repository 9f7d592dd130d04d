package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// secretValue stands for a value of the document that a store's error
// details may quote; no reason may show it.
const secretValue = "card-4111-1111"

// writeError is a per-document write error at index i as the server sends
// it, its details (errInfo) quoting the document, and keyPattern (a
// duplicate key's index; nil: not sent, as FerretDB does).
func writeError(i, code int, msg string, keyPattern bson.D) mongo.WriteError {
	raw := bson.D{{Key: "index", Value: i}, {Key: "code", Value: code}, {Key: "errmsg", Value: msg}}
	if keyPattern != nil {
		raw = append(raw, bson.E{Key: "keyPattern", Value: keyPattern})
	}
	rawBytes, _ := bson.Marshal(raw)
	details, _ := bson.Marshal(bson.D{{Key: "failingDocument", Value: bson.D{{Key: "card", Value: secretValue}}}})
	return mongo.WriteError{Index: i, Code: code, Message: msg, Details: details, Raw: rawBytes}
}

// refusedAt is an insert command whose document at index i is refused with
// the write error we, as the driver returns it from RunCommand.
func refusedAt(we mongo.WriteError) error {
	return mongo.WriteException{WriteErrors: mongo.WriteErrors{we}}
}

// storeFault is one kind of store error, as the insert command of a batch
// of purchases returns it; at is the index of the purchase it concerns.
type storeFault struct {
	name      string
	err       func(at int) error
	permanent bool
	reason    string // in the refusal, when permanent
}

// storeFaults are the kinds of errors the store gives, each built the way
// the driver builds it: the permanent ones are refusals of one document in
// an unordered insert; everything else passes and is retried.
var storeFaults = []storeFault{
	{"validation_rule", func(i int) error {
		return refusedAt(writeError(i, 121, "Document failed validation", nil))
	}, true, "DocumentValidationFailure (121): Document failed validation"},
	{"bad_value", func(i int) error {
		return refusedAt(writeError(i, 2, `invalid key: "$a" (key must not start with '$' sign)`, nil))
	}, true, "BadValue (2)"},
	{"document_too_large", func(i int) error {
		return refusedAt(writeError(i, 10334, "object to insert too large", nil))
	}, true, "BSONObjectTooLarge (10334)"},
	{"duplicate_on_another_index", func(i int) error {
		return refusedAt(writeError(i, 11000, "E11000 duplicate key error collection: shop.purchases index: userid_1 dup key: { userid: \""+
			strings.Repeat("x", 300)+"\" }", bson.D{{Key: "userid", Value: 1}}))
	}, true, "DuplicateKey (11000): E11000 duplicate key error collection: shop.purchases index: userid_1"},

	{"network_error", func(int) error {
		return mongo.CommandError{Code: 6, Name: "HostUnreachable", Message: "connection reset", Labels: []string{"NetworkError"}}
	}, false, ""},
	{"time_out", func(int) error { return fmt.Errorf("insert: %w", context.DeadlineExceeded) }, false, ""},
	{"server_selection", func(int) error { return topology.ServerSelectionError{Wrapped: context.DeadlineExceeded} }, false, ""},
	{"not_primary", func(int) error {
		return mongo.CommandError{Code: 10107, Name: "NotWritablePrimary", Labels: []string{"RetryableWriteError"}}
	}, false, ""},
	{"node_recovering", func(int) error {
		return mongo.CommandError{Code: 11602, Name: "InterruptedDueToReplStateChange", Labels: []string{"RetryableWriteError"}}
	}, false, ""},
	{"write_concern_error", func(int) error {
		return mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: 64, Name: "WriteConcernTimeout",
			Message: "waiting for replication timed out"}}
	}, false, ""},
	{"write_concern_error_with_write_errors", func(i int) error {
		return mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: 64, Name: "WriteConcernTimeout"},
			WriteErrors: mongo.WriteErrors{writeError(i, 121, "Document failed validation", nil)}}
	}, false, ""},
	{"retryable_label_with_write_errors", func(i int) error {
		return mongo.WriteException{Labels: []string{"RetryableWriteError"},
			WriteErrors: mongo.WriteErrors{writeError(i, 2, "bad", nil)}}
	}, false, ""},
	{"store_unavailable", func(int) error { return fmt.Errorf("insert: %w", mongo.ErrClientDisconnected) }, false, ""},
	{"interrupted", func(int) error { return mongo.CommandError{Code: 11601, Name: "Interrupted"} }, false, ""},
	{"shutting_down", func(int) error {
		return mongo.CommandError{Code: 91, Name: "ShutdownInProgress", Labels: []string{"RetryableWriteError"}}
	}, false, ""},
	{"command_level_bad_value", func(int) error { return mongo.CommandError{Code: 2, Name: "BadValue"} }, false, ""},
	{"not_primary_per_document", func(i int) error {
		return refusedAt(writeError(i, 10107, "not primary", nil))
	}, false, ""},
	{"unauthorized_per_document", func(i int) error {
		return refusedAt(writeError(i, 13, "not authorized on shop to execute command", nil))
	}, false, ""},
	{"unknown_code_per_document", func(i int) error { return refusedAt(writeError(i, 424242, "something new", nil)) }, false, ""},
	{"unknown_error", func(int) error { return errors.New("something nobody has seen") }, false, ""},
}

// TestStoreErrorClasses: each kind of store error, returned by the insert
// command of a batch of three for its middle purchase, gives each purchase
// its outcome. A permanent one refuses that purchase alone, with the
// store's code, name and message, cut short and without the details that
// quote the document; a transient one fails the batch (a whole-command
// error) or that purchase (a per-document one), to be retried.
func TestStoreErrorClasses(t *testing.T) {
	t.Parallel()
	ps := []purchase.Purchase{testPurchase(0), testPurchase(1), testPurchase(2)}
	for _, f := range storeFaults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			refused, err := writeErrors(f.err(1), len(ps), 0)
			results, dups := outcomes(ps, refused, err)
			if len(dups) != 0 {
				t.Fatalf("got %d duplicates to read back, want none", len(dups))
			}
			for i, r := range results {
				switch {
				case f.permanent && i == 1:
					var rf *refusal
					if !errors.Is(r.err, errRefused) || !errors.As(r.err, &rf) || !strings.Contains(r.err.Error(), f.reason) {
						t.Fatalf("purchase 1: got %v, want refused with %q", r.err, f.reason)
					}
					if len(rf.Message) > maxRefusalMessage || strings.Contains(r.err.Error(), secretValue) {
						t.Errorf("refusal %q: want at most %d bytes of message and no document details", r.err, maxRefusalMessage)
					}
				case f.permanent:
					if r.err != nil {
						t.Errorf("purchase %d: got %v, want stored: a batch-mate's refusal is not its own", i, r.err)
					}
				case r.err == nil && (i == 1 || !isPerDocument(f.err(1))):
					t.Errorf("purchase %d: got no error, want a transient one", i)
				case errors.Is(r.err, errRefused) || errors.Is(r.err, errConflict):
					t.Errorf("purchase %d: got %v, want a transient error (retried)", i, r.err)
				}
			}
		})
	}
}

// isPerDocument reports whether err refuses single documents, without an
// error of the whole command.
func isPerDocument(err error) bool {
	refused, cmdErr := writeErrors(err, 3, 0)
	return cmdErr == nil && len(refused) > 0
}

// TestDuplicateKeyIndex: a duplicate key is a redelivery or a conflict on
// _id, to be read back; on any other index a refusal; when the server names
// no index (FerretDB), read back, and a refusal when no purchase has the id.
func TestDuplicateKeyIndex(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pattern bson.D
		want    dupIndex
	}{
		{bson.D{{Key: "_id", Value: 1}}, dupOnID},
		{bson.D{{Key: "userid", Value: 1}}, dupOnOther},
		{bson.D{{Key: "_id", Value: 1}, {Key: "userid", Value: 1}}, dupOnOther},
		{nil, dupOnUnknown},
	} {
		if got := duplicateOn(writeError(0, 11000, "E11000", tt.pattern)); got != tt.want {
			t.Errorf("keyPattern %v: got %d, want %d", tt.pattern, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"0123456789abc", 10, "0123456…"},
		{"ééééé", 6, "é…"}, // é is 2 bytes, … is 3: the cut falls inside no rune
	} {
		if got := truncate(tt.in, tt.n); got != tt.want || len(got) > tt.n {
			t.Errorf("truncate(%q, %d): got %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// faultyStore is a store over memStore whose insert command fails as
// fault says, for the batches it chooses: fault gets the batch and returns
// the command's error as the driver would (nil: none). SaveMany then turns
// it into outcomes as mongoStore does, and writes the purchases an
// unordered insert would have written.
type faultyStore struct {
	*memStore
	mu       sync.Mutex
	fault    func(items []saveItem) error
	attempts map[string]int // saves per purchase id
}

func newFaultyStore(fault func(items []saveItem) error) *faultyStore {
	return &faultyStore{memStore: newMemStore(), fault: fault, attempts: map[string]int{}}
}

func (f *faultyStore) SaveMany(ctx context.Context, items []saveItem) []saveResult {
	f.mu.Lock()
	for _, it := range items {
		f.attempts[it.p.ID]++
	}
	err := f.fault(items)
	f.mu.Unlock()
	ps := make([]purchase.Purchase, len(items))
	for i, it := range items {
		ps[i] = it.p
	}
	refused, err := writeErrors(err, len(items), 0)
	results, dups := outcomes(ps, refused, err)
	for i := range results {
		if results[i].err == nil || slices.ContainsFunc(dups, func(we mongo.WriteError) bool { return we.Index == i }) {
			results[i].duplicate, results[i].err = f.Save(ctx, ps[i])
		}
	}
	return results
}

func (f *faultyStore) attemptsOf(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[id]
}

// faultFor fails the batches that hold the purchase id with the fault, the
// first times times (forever when times < 0).
func faultFor(id string, fault func(at int) error, times int) func(items []saveItem) error {
	n := 0
	return func(items []saveItem) error {
		at := slices.IndexFunc(items, func(it saveItem) bool { return it.p.ID == id })
		if at < 0 || (times >= 0 && n >= times) {
			return nil
		}
		n++
		return fault(at)
	}
}
