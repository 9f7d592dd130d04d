// Package purchase holds the shop's one domain type, the Purchase, with the
// parsing that turns outside input into a Purchase that cannot be invalid, and
// the CloudEvent that carries a Purchase from cm-server to cm-api.
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

// TimeLayout is how timestamps are written: RFC 3339, UTC, milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Purchase is one validated purchase. Build it with Parse; every field is
// then within its limits and Timestamp is UTC with millisecond precision.
type Purchase struct {
	ID        string
	Username  string
	UserID    string
	Price     Money
	Timestamp time.Time
	// Origin is the client's own CloudEvent id and source when the purchase
	// was posted as a CloudEvent; ID is then derived from both.
	Origin Origin
	// KeyID names the client's Idempotency-Key (a UUID derived from the key
	// and the user) when it sent one; ID is then derived from it and the
	// purchase, so the same key with another purchase is another id.
	KeyID string
}

// Origin is a client's CloudEvent identity: unique as a pair, not by id.
type Origin struct {
	EventID     string
	EventSource string
}

// Equivalent reports whether q is the same purchase as p as far as the
// shopper is concerned. The timestamp is left out on purpose: a retry without
// one gets a new server time but is still the same purchase.
func (p Purchase) Equivalent(q Purchase) bool {
	return p.ID == q.ID && p.Username == q.Username && p.UserID == q.UserID && p.Price == q.Price
}

// jsonPurchase is the wire shape of a stored purchase in API responses.
type jsonPurchase struct {
	ID        string `json:"_id"`
	Username  string `json:"username"`
	UserID    string `json:"userid"`
	Price     Money  `json:"price"`
	Timestamp string `json:"timestamp"`
}

// MarshalJSON writes the API shape: {"_id","username","userid","price","timestamp"}.
func (p Purchase) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonPurchase{p.ID, p.Username, p.UserID, p.Price, FormatTime(p.Timestamp)})
}

// FormatTime writes t the way the API does: "2024-05-31T15:54:32.204Z".
func FormatTime(t time.Time) string {
	return t.UTC().Format(TimeLayout)
}

// Error says, field by field, why input is not a valid purchase.
type Error struct {
	Fields map[string]string
}

func (e *Error) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		parts = append(parts, k+": "+e.Fields[k])
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// invalid returns an *Error for a single field.
func invalid(field, problem string) *Error {
	return &Error{Fields: map[string]string{field: problem}}
}

// Parse turns a JSON purchase body into a Purchase with the given id. When
// the body has no timestamp, now is used; a zero now makes the timestamp
// required. Every problem found is reported in one *Error.
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

// purchase checks every member and the id; the problems found, if any, are
// one *Error.
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
	// The first few unknown names, in order: sorted only when there are some.
	slices.Sort(m.unknown)
	for _, k := range m.unknown[:min(len(m.unknown), maxUnknown)] {
		note(truncate(k, 40), errUnknown)
	}
	if problems != nil {
		return Purchase{}, &Error{Fields: problems}
	}
	return p, nil
}

var (
	errRequired   = errors.New("is required")
	errUnknown    = errors.New("unknown field")
	errNotString  = errors.New("must be a string")
	errEmpty      = errors.New("must not be empty")
	errControl    = errors.New("must not contain control characters")
	errSpace      = errors.New("must not start or end with white space")
	errUTF8       = errors.New("must be valid UTF-8")
	errInvisible  = errors.New("must not contain line separators or text-direction controls")
	errDots       = errors.New(`must not be "." or ".." (they cannot be a URL path segment)`)
	errTimeOffset = errors.New("must have a UTC offset between -23:59 and +23:59")
	errTimeFormat = errors.New("must be an RFC 3339 date-time, e.g. \"2024-05-31T15:54:32.204Z\"")
	errTimeMillis = errors.New("must have at most millisecond precision")
	errTimeRange  = errors.New("must be between the years 1970 and 9999")
)

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// jsonString decodes raw as a JSON string, as json.Unmarshal into a string
// does. A string with no escapes, quotes or control characters and valid
// UTF-8 (every string the shop itself sends) is the bytes between its
// quotes, read without reflection; any other goes through json.Unmarshal.
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

// ParseUsername checks a user name that arrives outside a purchase body, such
// as the {username} path segment, by the same rules as Parse.
func ParseUsername(s string) (string, error) {
	return checkText(s, MaxUsernameLen)
}

// checkText enforces the rules every name and id field shares. Printable
// ASCII (most names and every id) is checked in one pass: it is valid UTF-8,
// one character per byte, with no control or invisible characters, and
// only the space is white space (FuzzCheckText compares with checkTextSlow).
func checkText(s string, max int) (string, error) {
	if !printableASCII(s) {
		return checkTextSlow(s, max)
	}
	switch {
	case s == "":
		return "", errEmpty
	case len(s) > max:
		return "", fmt.Errorf("must be at most %d characters", max)
	case s == "." || s == "..":
		return "", errDots
	case s[0] == ' ' || s[len(s)-1] == ' ':
		return "", errSpace
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

// checkTextSlow is checkText for any string.
func checkTextSlow(s string, max int) (string, error) {
	switch {
	case s == "":
		return "", errEmpty
	case utf8.RuneCountInString(s) > max:
		return "", fmt.Errorf("must be at most %d characters", max)
	case !utf8.ValidString(s):
		return "", errUTF8
	case strings.ContainsFunc(s, unicode.IsControl):
		return "", errControl
	case strings.ContainsFunc(s, isInvisible):
		return "", errInvisible
	case s == "." || s == "..":
		return "", errDots
	case strings.TrimSpace(s) != s:
		return "", errSpace
	}
	return s, nil
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
		return time.Time{}, errTimeFormat
	}
	if !validOffset(s) {
		return time.Time{}, errTimeOffset
	}
	return t.UTC(), CheckTime(t)
}

// CheckTime applies the timestamp rules to a time that came from elsewhere,
// such as a CloudEvent's time attribute: millisecond precision, years
// 1970 to 9999.
func CheckTime(t time.Time) error {
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		return errTimeMillis
	}
	if y := t.UTC().Year(); y < 1970 || y > 9999 {
		return errTimeRange
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

// parseID accepts the ids this system makes (UUIDs) and ids clients give in
// CloudEvents, limited to URL-safe ASCII so they are safe in logs and cursors.
func parseID(id string) (string, error) {
	switch {
	case id == "":
		return "", errRequired
	case len(id) > MaxIDLen:
		return "", fmt.Errorf("must be at most %d characters", MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~:@", c) >= 0) {
			return "", errors.New("must contain only letters, digits and - . _ ~ : @")
		}
	}
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
