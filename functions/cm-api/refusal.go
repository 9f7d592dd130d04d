package main

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// errRefused means the store refused a purchase for good: writing it again
// would be refused again. Such a purchase is set aside (Kafka mode: the
// dead-letter topic; Knative mode: 422, which the KafkaSource does not
// retry) so that its partition moves on. Every other store error is
// transient and retried.
var errRefused = errors.New("the purchase store refuses this purchase")

// refusal is the store's reason for refusing one purchase for good: its
// error code and name and its message, cut to maxRefusalMessage bytes. Only
// the message is kept: a write error's details (errInfo) may quote the
// document, which has no place in a log line, a dead-letter header or an
// answer.
type refusal struct {
	Code    int
	Name    string
	Message string
}

// maxRefusalMessage bounds the store's message in a refusal: MongoDB's
// duplicate-key message quotes the key's value, and a dead-letter header or
// a 422 body has no use for more than the gist.
const maxRefusalMessage = 200

func newRefusal(code int, name, message string) *refusal {
	return &refusal{Code: code, Name: name, Message: truncate(message, maxRefusalMessage)}
}

func (r *refusal) Error() string {
	return fmt.Sprintf("%v: %s (%d): %s", errRefused, r.Name, r.Code, r.Message)
}

// Is makes errors.Is(err, errRefused) true for every refusal.
func (r *refusal) Is(target error) bool { return target == errRefused }

// permanentCodes are the per-document write errors that say something about
// the document itself, so that no retry can succeed: MongoDB's
// src/mongo/base/error_codes.yml names them. A duplicate key (11000) is
// permanent only on an index other than _id (duplicateOn); on _id it is
// a redelivery or a conflict, decided by reading the stored purchase.
//
// Nothing else is permanent, on purpose: an error this list does not name
// (an unknown code, a network error, a time-out, no primary, a node shutting
// down or recovering, a write-concern error, an interrupted operation,
// missing privileges, a full disk) is transient and retried without limit.
// A purchase was acknowledged to its buyer; dead-lettering it on an error
// not understood would trade a stalled partition, which the lag metrics
// show and an operator can fix, for a purchase quietly not stored. And an
// error of the whole insert command (mongo.CommandError, whatever its code)
// is never permanent: it says nothing about one purchase, and refusing all
// of a batch would dead-letter its innocent batch-mates.
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

// refusalOf returns the refusal a per-document write error of an unordered
// insert is, or nil when the write may succeed later. A duplicate key is
// left to the caller (duplicateOnID).
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

// duplicateOn reads a duplicate-key error's keyPattern, which MongoDB
// (4.4 and later) adds to the write error beside code and errmsg
// (src/mongo/db/storage/duplicate_key_error_info.cpp, serialize).
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

// duplicateElsewhere is the refusal of a purchase whose duplicate key is on
// another unique index than _id: no purchase has its id, yet the store
// refuses it, and will again.
func duplicateElsewhere(we mongo.WriteError) *refusal {
	return newRefusal(we.Code, permanentCodes[duplicateKeyCode], we.Message)
}

// transientStoreError reports whether err, the error of an insert command,
// is one of the kinds that pass, whatever write errors it carries: the
// driver's own tests for a network error and a time-out (server selection
// and a pool wait included), the labels MongoDB puts on errors worth
// retrying (a node stepping down or shutting down), and a write-concern
// error, whose writes are not known to be durable. Such a command's write
// errors are not per-document outcomes: the whole batch is retried.
// An error it does not recognise is transient too (see permanentCodes).
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
