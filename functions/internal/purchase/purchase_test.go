package purchase_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC)

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		wantPrice string
		wantTime  string
	}{
		{"price_string", `{"username":"joe","userid":"005","price":"1195.30","timestamp":"2024-05-31T15:54:32.204Z"}`, "1195.30", "2024-05-31T15:54:32.204Z"},
		{"price_number", `{"username":"joe","userid":"005","price":1195.3,"timestamp":"2024-05-31T15:54:32.204Z"}`, "1195.30", "2024-05-31T15:54:32.204Z"},
		{"price_integer", `{"username":"joe","userid":"005","price":7}`, "7.00", "2026-11-25T12:00:00.123Z"},
		{"price_zero", `{"username":"joe","userid":"005","price":"0"}`, "0.00", "2026-11-25T12:00:00.123Z"},
		{"price_max", `{"username":"joe","userid":"005","price":"999999999.99"}`, "999999999.99", "2026-11-25T12:00:00.123Z"},
		{"timestamp_offset_normalised", `{"username":"joe","userid":"005","price":"1","timestamp":"2024-05-31T17:54:32.2+02:00"}`, "1.00", "2024-05-31T15:54:32.200Z"},
		{"timestamp_null_is_server_time", `{"username":"joe","userid":"005","price":"1","timestamp":null}`, "1.00", "2026-11-25T12:00:00.123Z"},
		{"unicode_username", `{"username":"Zoë O'Brien","userid":"005","price":"1"}`, "1.00", "2026-11-25T12:00:00.123Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := purchase.Parse("id-1", []byte(tt.body), now)
			if err != nil {
				t.Fatalf("Parse: got error %v, want none", err)
			}
			if got := p.Price.String(); got != tt.wantPrice {
				t.Errorf("price: got %s, want %s", got, tt.wantPrice)
			}
			if got := purchase.FormatTime(p.Timestamp); got != tt.wantTime {
				t.Errorf("timestamp: got %s, want %s", got, tt.wantTime)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", purchase.MaxUsernameLen+1)
	tests := []struct {
		name  string
		id    string
		body  string
		field string
	}{
		{"not_json", "a", `nope`, "body"},
		{"array", "a", `[]`, "body"},
		{"null", "a", `null`, "body"},
		{"two_objects", "a", `{} {}`, "body"},
		{"invalid_utf8", "a", "{\"username\":\"\xff\",\"userid\":\"1\",\"price\":1}", "body"},
		{"missing_username", "a", `{"userid":"1","price":1}`, "username"},
		{"empty_username", "a", `{"username":"","userid":"1","price":1}`, "username"},
		{"operator_username", "a", `{"username":{"$ne":""},"userid":"1","price":1}`, "username"},
		{"number_userid", "a", `{"username":"joe","userid":5,"price":1}`, "userid"},
		{"control_char", "a", `{"username":"jo\u0000e","userid":"1","price":1}`, "username"},
		{"newline", "a", `{"username":"jo\ne","userid":"1","price":1}`, "username"},
		{"padded", "a", `{"username":" joe","userid":"1","price":1}`, "username"},
		{"too_long", "a", `{"username":"` + long + `","userid":"1","price":1}`, "username"},
		{"missing_price", "a", `{"username":"joe","userid":"1"}`, "price"},
		{"null_price", "a", `{"username":"joe","userid":"1","price":null}`, "price"},
		{"negative_price", "a", `{"username":"joe","userid":"1","price":"-1.00"}`, "price"},
		{"negative_number", "a", `{"username":"joe","userid":"1","price":-0.01}`, "price"},
		{"three_decimals", "a", `{"username":"joe","userid":"1","price":"1.005"}`, "price"},
		{"exponent", "a", `{"username":"joe","userid":"1","price":1e3}`, "price"},
		{"too_big", "a", `{"username":"joe","userid":"1","price":"1000000000"}`, "price"},
		{"bool_price", "a", `{"username":"joe","userid":"1","price":true}`, "price"},
		{"object_price", "a", `{"username":"joe","userid":"1","price":{"$gt":0}}`, "price"},
		{"comma_price", "a", `{"username":"joe","userid":"1","price":"1,00"}`, "price"},
		{"dot_only_price", "a", `{"username":"joe","userid":"1","price":"1."}`, "price"},
		{"feb_30", "a", `{"username":"joe","userid":"1","price":1,"timestamp":"2024-02-30T00:00:00Z"}`, "timestamp"},
		{"hour_25", "a", `{"username":"joe","userid":"1","price":1,"timestamp":"2024-02-01T25:00:00Z"}`, "timestamp"},
		{"year_0", "a", `{"username":"joe","userid":"1","price":1,"timestamp":"0000-01-01T00:00:00Z"}`, "timestamp"},
		{"micros", "a", `{"username":"joe","userid":"1","price":1,"timestamp":"2024-02-01T00:00:00.000001Z"}`, "timestamp"},
		{"number_timestamp", "a", `{"username":"joe","userid":"1","price":1,"timestamp":1717170872}`, "timestamp"},
		{"unknown_field", "a", `{"username":"joe","userid":"1","price":1,"admin":true}`, "admin"},
		{"duplicate_key", "a", `{"username":{"$ne":""},"username":"joe","userid":"1","price":1}`, "username"},
		{"colons_and_nesting_are_not_duplicates", "a", `{"username":"a:b\\\":c","userid":"1","price":1,"x":{"a":1,"b":[{"c":2}]}}`, "x"},
		{"trailing_garbage", "a", `{"username":"joe","userid":"1","price":1} x`, "body"},
		{"dot_dot_username", "a", `{"username":"..","userid":"1","price":1}`, "username"},
		{"bidi_override", "a", `{"username":"joe\u202egnp.exe","userid":"1","price":1}`, "username"},
		{"line_separator", "a", `{"username":"jo\u2028e","userid":"1","price":1}`, "username"},
		{"offset_24h", "a", `{"username":"joe","userid":"1","price":1,"timestamp":"2024-05-31T15:54:32.204+24:00"}`, "timestamp"},
		{"offset_60min", "a", `{"username":"joe","userid":"1","price":1,"timestamp":"2024-05-31T15:54:32.204+23:60"}`, "timestamp"},
		{"empty_id", "", `{"username":"joe","userid":"1","price":1}`, "id"},
		{"id_with_slash", "a/b", `{"username":"joe","userid":"1","price":1}`, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := purchase.Parse(tt.id, []byte(tt.body), now)
			var perr *purchase.Error
			if !errors.As(err, &perr) {
				t.Fatalf("got error %v, want *purchase.Error", err)
			}
			if _, ok := perr.Fields[tt.field]; !ok {
				t.Errorf("got fields %v, want a problem with %q", perr.Fields, tt.field)
			}
		})
	}
}

func TestParseReportsEveryField(t *testing.T) {
	t.Parallel()
	_, err := purchase.Parse("a", []byte(`{"username":"","userid":5,"price":"-1"}`), time.Time{})
	var perr *purchase.Error
	if !errors.As(err, &perr) {
		t.Fatalf("got %v, want *purchase.Error", err)
	}
	for _, f := range []string{"username", "userid", "price", "timestamp"} {
		if _, ok := perr.Fields[f]; !ok {
			t.Errorf("got fields %v, want a problem with %q", perr.Fields, f)
		}
	}
}

func TestPurchaseJSON(t *testing.T) {
	t.Parallel()
	p, err := purchase.Parse("abc", []byte(`{"username":"joe","userid":"005","price":"1195.30","timestamp":"2024-05-31T15:54:32.204Z"}`), now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"_id":"abc","username":"joe","userid":"005","price":"1195.30","timestamp":"2024-05-31T15:54:32.204Z"}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`{"username":"joe","userid":"005","price":"1195.30","timestamp":"2024-05-31T15:54:32.204Z"}`)
	f.Add(`{"username":"joe","userid":"005","price":1195.3}`)
	f.Add(`{"price":"00.10"}`)
	f.Add(`{"username":{"$ne":""}}`)
	f.Fuzz(func(t *testing.T, body string) {
		p, err := purchase.Parse("id", []byte(body), now)
		if err != nil {
			var perr *purchase.Error
			if !errors.As(err, &perr) || len(perr.Fields) == 0 {
				t.Fatalf("got error %v, want *purchase.Error with fields", err)
			}
			return
		}
		if p.Price < 0 || p.Price > purchase.MaxPrice {
			t.Fatalf("price %d out of range", p.Price)
		}
		// A parsed purchase must survive its own JSON shape unchanged.
		data, _ := json.Marshal(map[string]any{"username": p.Username, "userid": p.UserID,
			"price": p.Price.String(), "timestamp": purchase.FormatTime(p.Timestamp)})
		q, err := purchase.Parse("id", data, time.Time{})
		if err != nil || q != p {
			t.Fatalf("re-parse of %s: got %+v, %v; want %+v", data, q, err, p)
		}
	})
}

func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{`"1195.30"`, `1195.3`, `"0"`, `-1`, `"1.005"`, `1e3`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		m, err := purchase.ParseMoney(json.RawMessage(raw))
		if err != nil {
			return
		}
		again, err := purchase.ParseMoney(json.RawMessage(`"` + m.String() + `"`))
		if err != nil || again != m {
			t.Fatalf("%s -> %s -> %d, %v", raw, m, again, err)
		}
	})
}

func TestParseListUsername(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", ".", "..", "bad\xffname", " joe", "jo\u202ee"} {
		if _, _, err := purchase.ParseList(bad, nil); err == nil {
			t.Errorf("ParseList(%q): got no error, want one", bad)
		}
	}
	for _, good := range []string{"joe", "Zoë O'Brien", "a.b", "..a", "👩‍💻 dev"} {
		if _, _, err := purchase.ParseList(good, nil); err != nil {
			t.Errorf("ParseList(%q): got %v, want none", good, err)
		}
	}
}

func TestCheckTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		t    time.Time
		want bool
	}{
		{time.Date(2024, 5, 31, 15, 54, 32, 204e6, time.UTC), true},
		{time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{time.Date(2024, 5, 31, 15, 54, 32, 204001000, time.UTC), false},
	}
	for _, tt := range tests {
		if err := purchase.CheckTime(tt.t); (err == nil) != tt.want {
			t.Errorf("CheckTime(%v): got %v, want ok=%v", tt.t, err, tt.want)
		}
	}
}

// *Error is what the shared HTTP layer answers 400, field by field.
var _ server.InvalidInput = (*purchase.Error)(nil)
