package purchase

import (
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

// TestScanMembersAccepts: the bodies the shop itself sends (the UI, the load
// generator, cm-server's event data to cm-api) take the fast path, so a
// change that sends them down decodeMembers again fails here, not in a
// profile.
func TestScanMembersAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
	}{
		{"ui_price_string", `{"username":"Zoë O'Brien","userid":"005","price":"12.50","timestamp":"2026-11-25T12:00:00.123Z"}`},
		{"ui_no_timestamp", `{"username":"joe","userid":"005","price":"12.50"}`},
		{"loadgen", `{"username":"lg-user-17","userid":"lg-17","price":"1195.30","timestamp":"2026-11-25T12:00:00.123Z"}`},
		{"price_number", `{"username":"joe","userid":"005","price":12.5,"timestamp":"2026-11-25T12:00:00.123Z"}`},
		{"price_number_no_timestamp", `{"username":"joe","userid":"005","price":1195.3}`},
		{"timestamp_null", `{"username":"joe","userid":"005","price":"1","timestamp":null}`},
		{"any_order", `{"timestamp":"2026-11-25T12:00:00.123Z","price":"1","userid":"005","username":"joe"}`},
		{"white_space", " \r\n{ \"username\" :\t\"joe\" ,\n  \"userid\": \"005\",\n  \"price\": -0.5e+2 }\n"},
		{"empty_object", `{}`},
		{"event_data", string(NewEvent(Purchase{ID: "a1", Username: "Zoë O'Brien", UserID: "005", Price: 119530,
			Timestamp: time.Date(2026, 11, 25, 12, 0, 0, 123e6, time.UTC)}, "/s").DataEncoded)},
		{"invalid_values_are_the_checks_business", "{\"username\":\"\",\"userid\":\" \x7f \",\"price\":\"abc\",\"timestamp\":\"x\"}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, ok := scanMembers([]byte(tt.body)); !ok {
				t.Errorf("scanMembers(%s): got false, want true", tt.body)
			}
		})
	}
}

// TestScanMembersGivesUp: what the fast path leaves to decodeMembers.
func TestScanMembersGivesUp(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"escaped_value":   `{"username":"jo\"e","userid":"005","price":"1"}`,
		"unicode_escape":  `{"username":"\u006aoe","userid":"005","price":"1"}`,
		"escaped_name":    `{"user\u006eame":"joe","userid":"005","price":"1"}`,
		"unknown_name":    `{"username":"joe","userid":"005","price":"1","admin":true}`,
		"duplicate_name":  `{"username":"joe","username":"ann","userid":"005","price":"1"}`,
		"nested_object":   `{"username":{"$ne":""},"userid":"005","price":"1"}`,
		"array":           `{"username":["joe"],"userid":"005","price":"1"}`,
		"bool":            `{"username":"joe","userid":"005","price":true}`,
		"control_char":    "{\"username\":\"jo\te\",\"userid\":\"005\",\"price\":\"1\"}",
		"leading_zero":    `{"price":01}`,
		"bare_dot":        `{"price":1.}`,
		"bare_exponent":   `{"price":1e}`,
		"lone_minus":      `{"price":-}`,
		"plus_sign":       `{"price":+1}`,
		"trailing_comma":  `{"price":1,}`,
		"trailing_data":   `{"price":1} x`,
		"two_objects":     `{} {}`,
		"unterminated":    `{"price":"1"`,
		"not_an_object":   `null`,
		"nul_literal":     `{"price":nul}`,
		"null_then_chars": `{"price":nullx}`,
		"empty":           ``,
	} {
		if _, ok := scanMembers([]byte(body)); ok {
			t.Errorf("%s: scanMembers(%s): got true, want false", name, body)
		}
	}
}

// FuzzParseFastPath holds the fast path to the slow one: whenever
// scanMembers accepts a body, decodeMembers accepts it too with the very same
// members, byte for byte, and Parse's answer is the slow path's.
func FuzzParseFastPath(f *testing.F) {
	for _, seed := range []string{
		`{"username":"joe","userid":"005","price":"1195.30","timestamp":"2024-05-31T15:54:32.204Z"}`,
		`{"username":"joe","userid":"005","price":1195.3}`,
		`{"price":"00.10"}`,
		`{"username":{"$ne":""}}`,
		" {\t\"username\" : \"joe\" ,\r\n\"userid\":\"005\" , \"price\" :1195.3 }\n",
		`{"price":-0}`, `{"price":1e3}`, `{"price":01}`, `{"price":1.}`, `{"price":-1.5E-2}`,
		`{"username":"joe","userid":"005","price":"1","timestamp":null}`, `{"price":null}`,
		`{"username":"joe","username":"ann"}`, `{"price":1,"price":1}`,
		`{"username":"jo\"e"}`, `{"username":"a\","userid":"b"}`, `{"user\u006eame":"joe"}`, `{"username":"\u00e9"}`,
		`{"username":"joe","admin":true}`, `{"id":1,"a":2,"b":3,"c":4,"d":5,"e":6}`,
		`{}`, `{} `, `{} x`, `{}{}`, `{"price":1}}`, `[]`, `null`, ``,
		`{"username":{"a":{"b":[1,2]}},"userid":"1","price":1}`,
		"{\"username\":\"\xff\"}", "{\"username\":\"a\x00b\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if fast, ok := scanMembers(body); ok && utf8.Valid(body) {
			slow, err := decodeMembers(body)
			if err != nil {
				t.Fatalf("%q: scanMembers accepts, decodeMembers: %v", body, err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%q: scanMembers got %q, decodeMembers %q", body, fast, slow)
			}
		}
		for _, now := range []time.Time{{}, time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC)} {
			got, gotErr := Parse("id", body, now)
			want, wantErr := parseSlow("id", body, now)
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotErr, wantErr) {
				t.Fatalf("%q: Parse got %+v, %v; slow path %+v, %v", body, got, gotErr, want, wantErr)
			}
		}
	})
}

// parseSlow is Parse without the fast path.
func parseSlow(id string, body []byte, now time.Time) (Purchase, error) {
	if !utf8.Valid(body) {
		return Purchase{}, invalid("body", "must be valid UTF-8")
	}
	m, err := decodeMembers(body)
	if err != nil {
		return Purchase{}, err
	}
	return m.purchase(id, now)
}
