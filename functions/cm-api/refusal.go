package main

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// errRefused means the store refused a purchase for good: writing it again
// would be refused again. Kafka mode dead-letters it, Knative mode answers
// 422; every other store error is transient and retried.
var errRefused = errors.New("the purchase store refuses this purchase")

// refusal is the store's reason for refusing one purchase: code, name and
// message. A write error's details (errInfo) may quote the document, so
// they are dropped.
type refusal struct {
	Code    int
	Name    string
	Message string
}

// maxRefusalMessage bounds the message kept: MongoDB's duplicate-key
// message quotes the key's value.
const maxRefusalMessage = 200

func newRefusal(code int, name, message string) *refusal {
	return &refusal{Code: code, Name: name, Message: truncate(message, maxRefusalMessage)}
}

func (r *refusal) Error() string {
	return fmt.Sprintf("%v: %s (%d): %s", errRefused, r.Name, r.Code, r.Message)
}

// Is makes errors.Is(err, errRefused) true for every refusal.
func (r *refusal) Is(target error) bool { return target == errRefused }

// permanentCodes are the per-document write errors about the document
// itself, which no retry can fix (MongoDB's src/mongo/base/error_codes.yml).
// A duplicate key is permanent only on an index other than _id
// (duplicateOn); on _id it is a redelivery or a conflict.
//
// Nothing else is permanent, on purpose: a purchase was acknowledged to its
// buyer, and a stalled partition, which the lag metrics show, is better than
// dead-lettering it on an error not understood. An error of the whole
// command says nothing about one purchase and is never permanent.
var permanentCodes = map[int]string{
	2:     "BadValue",
	14:    "TypeMismatch",
	22:    "InvalidBSON",
	52:    "DollarPrefixedFieldName",
	53:    "InvalidIdField",
	55:    "InvalidDBRef",
	56:    "EmptyFieldName",
	57:    "DottedFieldName",
	121:   "DocumentValidationFailure",
	10334: "BSONObjectTooLarge",
	11000: "DuplicateKey",
	17280: "KeyTooLong",
}

// duplicateKeyCode is MongoDB's E11000.
const duplicateKeyCode = 11000

// refusalOf returns the refusal a per-document write error is, or nil when
// the write may succeed later. A duplicate key is left to the caller.
func refusalOf(we mongo.WriteError) *refusal {
	name, ok := permanentCodes[we.Code]
	if !ok || we.Code == duplicateKeyCode {
		return nil
	}
	return newRefusal(we.Code, name, we.Message)
}

// dupIndex says on which index a duplicate-key write error is.
type dupIndex int

const (
	dupOnUnknown dupIndex = iota // the server did not say (FerretDB)
	dupOnID                      // _id: a redelivery or a conflict
	dupOnOther                   // another unique index: refused for good
)

// duplicateOn reads the keyPattern MongoDB 4.4+ adds to a duplicate-key
// error (src/mongo/db/storage/duplicate_key_error_info.cpp, serialize).
func duplicateOn(we mongo.WriteError) dupIndex {
	v, err := we.Raw.LookupErr("keyPattern")
	if err != nil {
		return dupOnUnknown
	}
	pattern, ok := v.DocumentOK()
	if !ok {
		return dupOnUnknown
	}
	if elems, err := pattern.Elements(); err == nil && len(elems) == 1 && elems[0].Key() == "_id" {
		return dupOnID
	}
	return dupOnOther
}

// duplicateElsewhere is the refusal of a duplicate key on a unique index
// other than _id.
func duplicateElsewhere(we mongo.WriteError) *refusal {
	return newRefusal(we.Code, permanentCodes[duplicateKeyCode], we.Message)
}

// transientStoreError reports whether err, an insert command's error,
// passes whatever write errors it carries: a network error or time-out, a
// label MongoDB puts on errors worth retrying, or a write-concern error
// (the writes are not known to be durable). The whole batch is retried.
func transientStoreError(err error) bool {
	var (
		wex mongo.WriteException
		le  mongo.LabeledError
	)
	switch {
	case mongo.IsNetworkError(err), mongo.IsTimeout(err):
		return true
	case errors.As(err, &le) && (le.HasErrorLabel("RetryableWriteError") || le.HasErrorLabel("TransientTransactionError")):
		return true
	case errors.As(err, &wex) && wex.WriteConcernError != nil:
		return true
	}
	return false
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
