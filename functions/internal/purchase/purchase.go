// Package purchase holds the shop's one domain type, the Purchase: the
// parsing that turns outside input into a Purchase that cannot be invalid,
// and the CloudEvent that carries it from cm-server to cm-api.
package purchase

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Field limits. They bound what a client can make the store keep.
const (
	MaxUsernameLen = 100 // characters
	MaxUserIDLen   = 64  // characters
	MaxIDLen       = 128 // bytes, all ASCII
	maxUnknown     = 5   // unknown fields named in one error
)

// Purchase is one validated purchase. Built by Parse, every field is within
// its limits and Timestamp is UTC with millisecond precision.
type Purchase struct {
	ID        string
	Username  string
	UserID    string
	Price     Money
	Timestamp time.Time
	// Origin is set when the purchase came as a client's CloudEvent, KeyID
	// (a UUID from the Idempotency-Key and the user) when the client sent a
	// key. ID is then derived from the Origin, or from KeyID and the purchase.
	Origin Origin
	KeyID  string
}

// Origin is a client's CloudEvent identity: unique as a pair, not by id.
type Origin struct {
	EventID     string
	EventSource string
}

// Equivalent reports whether q is the same purchase as p for the shopper.
// The timestamp is left out: a retry without one gets a new server time.
func (p Purchase) Equivalent(q Purchase) bool {
	return p.ID == q.ID && p.Username == q.Username && p.UserID == q.UserID && p.Price == q.Price
}

// MarshalJSON writes the API shape: {"_id","username","userid","price","timestamp"}.
func (p Purchase) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID string `json:"_id"`
		eventData
	}{p.ID, eventData{p.Username, p.UserID, p.Price, FormatTime(p.Timestamp)}})
}

// FormatTime writes t the way the API does, RFC 3339 in UTC with
// milliseconds: "2024-05-31T15:54:32.204Z".
func FormatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// Error says, field by field, why input is not a valid purchase.
type Error struct{ Fields map[string]string }

func (e *Error) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		parts = append(parts, k+": "+e.Fields[k])
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// InvalidFields names each field that is wrong and what is wrong with it.
func (e *Error) InvalidFields() map[string]string { return e.Fields }

func invalid(field, problem string) *Error {
	return &Error{Fields: map[string]string{field: problem}}
}

// Parse turns a JSON purchase body into a Purchase with the given id. When
// the body has no timestamp, now is used; a zero now makes it required.
// Every problem found is reported in one *Error.
func Parse(id string, body []byte, now time.Time) (Purchase, error) {
	if !utf8.Valid(body) {
		return Purchase{}, invalid("body", "must be valid UTF-8")
	}
	m, ok := scanMembers(body)
	if !ok {
		var err error
		if m, err = decodeMembers(body); err != nil {
			return Purchase{}, err
		}
	}
	return m.purchase(id, now)
}

// purchase checks every member and the id.
func (m members) purchase(id string, now time.Time) (Purchase, error) {
	var problems map[string]string
	note := func(field string, err error) {
		if err != nil {
			if problems == nil {
				problems = map[string]string{}
			}
			problems[field] = err.Error()
		}
	}
	var p Purchase
	var err error
	p.ID, err = parseID(id)
	note("id", err)
	p.Username, err = parseText(m.username, MaxUsernameLen)
	note("username", err)
	p.UserID, err = parseText(m.userid, MaxUserIDLen)
	note("userid", err)
	if m.price == nil || isNull(m.price) {
		note("price", errRequired)
	} else {
		p.Price, err = ParseMoney(m.price)
		note("price", err)
	}
	p.Timestamp, err = parseTimestamp(m.timestamp, now)
	note("timestamp", err)
	slices.Sort(m.unknown)
	for _, k := range m.unknown[:min(len(m.unknown), maxUnknown)] {
		note(truncate(k, 40), errors.New("unknown field"))
	}
	if problems != nil {
		return Purchase{}, &Error{Fields: problems}
	}
	return p, nil
}

var (
	errRequired  = errors.New("is required")
	errNotString = errors.New("must be a string")
)

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// jsonString decodes raw as json.Unmarshal into a string does. A string
// without escapes or control characters (every string the shop sends) is
// read without reflection.
func jsonString(raw []byte) (string, bool) {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' {
		inner := raw[1 : n-1]
		plain := utf8.Valid(inner)
		for _, c := range inner {
			if c < 0x20 || c == '"' || c == '\\' {
				plain = false
				break
			}
		}
		if plain {
			return string(inner), true
		}
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err == nil
}

// parseText reads a required, non-empty, single-line string of at most max characters.
func parseText(raw json.RawMessage, max int) (string, error) {
	if raw == nil || isNull(raw) {
		return "", errRequired
	}
	s, ok := jsonString(raw)
	if !ok {
		return "", errNotString
	}
	return checkText(s, max)
}

// checkText enforces the rules every name and id field shares.
func checkText(s string, max int) (string, error) {
	return checkTextAs(s, max, printableASCII(s))
}

// checkTextAs is checkText told whether s is printable ASCII: one byte per
// character, valid UTF-8, no control or invisible characters, and only ' '
// as white space. FuzzCheckText holds it to the full checks (ascii false).
func checkTextAs(s string, max int, ascii bool) (string, error) {
	chars := len(s)
	if !ascii {
		chars = utf8.RuneCountInString(s)
	}
	switch {
	case s == "":
		return "", errors.New("must not be empty")
	case chars > max:
		return "", fmt.Errorf("must be at most %d characters", max)
	case !ascii && !utf8.ValidString(s):
		return "", errors.New("must be valid UTF-8")
	case !ascii && strings.ContainsFunc(s, unicode.IsControl):
		return "", errors.New("must not contain control characters")
	case !ascii && strings.ContainsFunc(s, isInvisible):
		return "", errors.New("must not contain line separators or text-direction controls")
	case s == "." || s == "..":
		return "", errors.New(`must not be "." or ".." (they cannot be a URL path segment)`)
	case strings.TrimSpace(s) != s:
		return "", errors.New("must not start or end with white space")
	}
	return s, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// isInvisible reports line and paragraph separators and the bidirectional
// controls that can make a name display as a different one.
func isInvisible(r rune) bool {
	return r == '\u2028' || r == '\u2029' || r == '\u200e' || r == '\u200f' ||
		(r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// parseTimestamp reads an optional RFC 3339 timestamp and normalises it to UTC.
func parseTimestamp(raw json.RawMessage, now time.Time) (time.Time, error) {
	if raw == nil || isNull(raw) {
		if now.IsZero() {
			return time.Time{}, errRequired
		}
		return now.UTC().Truncate(time.Millisecond), nil
	}
	s, ok := jsonString(raw)
	if !ok {
		return time.Time{}, errNotString
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errors.New(`must be an RFC 3339 date-time, e.g. "2024-05-31T15:54:32.204Z"`)
	}
	if !validOffset(s) {
		return time.Time{}, errors.New("must have a UTC offset between -23:59 and +23:59")
	}
	return t.UTC(), CheckTime(t)
}

// CheckTime applies the timestamp rules to a time from elsewhere, such as a
// CloudEvent's time attribute: millisecond precision, years 1970 to 9999.
func CheckTime(t time.Time) error {
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		return errors.New("must have at most millisecond precision")
	}
	if y := t.UTC().Year(); y < 1970 || y > 9999 {
		return errors.New("must be between the years 1970 and 9999")
	}
	return nil
}

// validOffset checks the "+hh:mm" of an RFC 3339 time, which Go's parser
// accepts up to +24:00 and +23:60.
func validOffset(s string) bool {
	if strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") || len(s) < 6 {
		return true
	}
	off := s[len(s)-6:]
	return (off[0] == '+' || off[0] == '-') && off[3] == ':' && off[1:3] <= "23" && off[4:6] <= "59"
}

// parseID accepts the UUIDs this system makes and the ids clients give in
// CloudEvents: URL-safe ASCII, so they are safe in logs and cursors.
func parseID(id string) (string, error) {
	switch {
	case id == "":
		return "", errRequired
	case len(id) > MaxIDLen:
		return "", fmt.Errorf("must be at most %d characters", MaxIDLen)
	case !idBytes.all(id):
		return "", errors.New("must contain only letters, digits and - . _ ~ : @")
	}
	return id, nil
}

// byteSet is the bytes a field may hold: one table lookup per byte.
type byteSet [256]bool

func newByteSet(chars string) *byteSet {
	var set byteSet
	for i := range len(chars) {
		set[chars[i]] = true
	}
	return &set
}

// all reports whether every byte of s is in the set.
func (set *byteSet) all(s string) bool {
	for i := 0; i < len(s); i++ {
		if !set[s[i]] {
			return false
		}
	}
	return true
}

const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

var (
	digits      = newByteSet("0123456789")
	idBytes     = newByteSet(letters + "0123456789-._~:@")
	cursorBytes = newByteSet(letters + "0123456789-_") // base64url
)

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
