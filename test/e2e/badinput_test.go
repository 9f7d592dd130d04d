package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest/authtest"
	"github.com/scalable-shop/scalable-shop/test/harness"
)

// badRequest is one malformed request and the 4xx it must get.
type badRequest struct {
	name    string
	api     bool // cm-api's POST / (or another cm-api route) instead of cm-server
	method  string
	path    string
	body    string
	header  map[string]string
	status  int
	field   string // the field named in "errors", if any
	message string // a part of "message", if it matters
	auth    string // a kind of credential from credentials; "" = a valid one
}

// buyBody is a valid purchase of the test's user with one field replaced by
// raw JSON (or removed, when raw is "").
func buyBody(field, raw string) string {
	fields := []string{`"username":"badinput"`, `"userid":"b-1"`, `"price":"1.00"`, `"timestamp":"2024-05-31T15:54:32.204Z"`}
	var out []string
	for _, f := range fields {
		if strings.HasPrefix(f, `"`+field+`"`) {
			if raw == "" {
				continue
			}
			f = `"` + field + `":` + raw
		}
		out = append(out, f)
	}
	return "{" + strings.Join(out, ",") + "}"
}

var jsonType = map[string]string{"Content-Type": "application/json"}

// ceBinary are the headers of a binary-mode purchase CloudEvent.
func ceBinary(id, typ string) map[string]string {
	return map[string]string{"Content-Type": "application/json", "Ce-Specversion": "1.0", "Ce-Id": id,
		"Ce-Source": "/test", "Ce-Type": typ}
}

func with(h map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for hk, hv := range h {
		if hk != k {
			out[hk] = hv
		}
	}
	return out
}

func without(h map[string]string, k string) map[string]string {
	out := map[string]string{}
	for hk, hv := range h {
		if hk != k {
			out[hk] = hv
		}
	}
	return out
}

const structuredType = "application/cloudevents+json"

var ceJSON = map[string]string{"Content-Type": structuredType}

// structured is a structured-mode purchase CloudEvent with data.
func structured(id, data string) string {
	return `{"specversion":"1.0","id":"` + id + `","source":"/test","type":"` + eventType +
		`","datacontenttype":"application/json","data":` + data + `}`
}

var (
	valid      = buyBody("", "")
	deepNest   = `{"username":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`
	overBuy    = `{"username":"` + strings.Repeat("a", 64<<10) + `"}`
	overEvent  = `{"username":"` + strings.Repeat("a", 256<<10) + `"}`
	longKey    = strings.Repeat("k", 256)
	longEvtID  = strings.Repeat("e", 129)
	longCursor = strings.Repeat("A", 257)
)

var badRequests = []badRequest{
	// Found by probing; each once answered 2xx or 5xx.
	{name: "buy_400_ce_time_before_1970", path: "/buy", body: buyBody("timestamp", ""), header: with(ceBinary("bad-5", eventType), "Ce-Time", "1960-01-01T00:00:00Z"), status: 400, field: "time"},
	{name: "list_400_username_dot_dot", method: "GET", path: "/getAllUserBuys/%2E%2E", status: 400, field: "username"},
	{name: "buy_400_ce_missing_source", path: "/buy", body: valid, header: without(ceBinary("bad-6", eventType), "Ce-Source"), status: 400, field: "event"},
	{name: "api_400_missing_source", api: true, path: "/", body: valid, header: without(ceBinary("bad-11", eventType), "Ce-Source"), status: 400, field: "event"},
	{name: "buy_400_timestamp_offset_24h", path: "/buy", body: buyBody("timestamp", `"2024-05-31T15:54:32.204+24:00"`), header: jsonType, status: 400, field: "timestamp"},
	{name: "buy_415_unparsable_content_type", path: "/buy", body: valid, header: map[string]string{"Content-Type": "text/html, application/json"}, status: 415, message: "Content-Type"},
	{name: "buy_400_duplicate_key", path: "/buy", body: `{"username":{"$ne":""},"username":"badinput","userid":"b-1","price":"1.00"}`, header: jsonType, status: 400, field: "username"},
	{name: "list_400_username_invalid_utf8", method: "GET", path: "/getAllUserBuys/bad%FFinput", status: 400, field: "username"},
	{name: "buy_400_username_bidi_override", path: "/buy", body: buyBody("username", `"bad\u202einput"`), header: jsonType, status: 400, field: "username"},
	// POST /buy: wrong JSON types and operator-like objects.
	{name: "buy_400_username_number", path: "/buy", body: buyBody("username", `5`), header: jsonType, status: 400, field: "username"},
	{name: "buy_400_userid_bool", path: "/buy", body: buyBody("userid", `true`), header: jsonType, status: 400, field: "userid"},
	{name: "buy_400_price_bool", path: "/buy", body: buyBody("price", `true`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_price_array", path: "/buy", body: buyBody("price", `["1.00"]`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_timestamp_number", path: "/buy", body: buyBody("timestamp", `1717170872204`), header: jsonType, status: 400, field: "timestamp"},
	{name: "buy_400_username_operator_ne", path: "/buy", body: buyBody("username", `{"$ne":""}`), header: jsonType, status: 400, field: "username"},
	{name: "buy_400_userid_operator_regex", path: "/buy", body: buyBody("userid", `{"$regex":".*"}`), header: jsonType, status: 400, field: "userid"},
	{name: "buy_400_price_operator_gt", path: "/buy", body: buyBody("price", `{"$gt":0}`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_timestamp_operator_date", path: "/buy", body: buyBody("timestamp", `{"$date":"2024-05-31T15:54:32.204Z"}`), header: jsonType, status: 400, field: "timestamp"},
	{name: "buy_400_unknown_operator_field", path: "/buy", body: strings.Replace(valid, "{", `{"$where":"1",`, 1), header: jsonType, status: 400, field: "$where"},
	// Missing, empty and null fields.
	{name: "buy_400_missing_username", path: "/buy", body: buyBody("username", ""), header: jsonType, status: 400, field: "username"},
	{name: "buy_400_missing_userid", path: "/buy", body: buyBody("userid", ""), header: jsonType, status: 400, field: "userid"},
	{name: "buy_400_missing_price", path: "/buy", body: buyBody("price", ""), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_empty_username", path: "/buy", body: buyBody("username", `""`), header: jsonType, status: 400, field: "username"},
	{name: "buy_400_empty_userid", path: "/buy", body: buyBody("userid", `""`), header: jsonType, status: 400, field: "userid"},
	{name: "buy_400_empty_price", path: "/buy", body: buyBody("price", `""`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_null_username", path: "/buy", body: buyBody("username", `null`), header: jsonType, status: 400, field: "username"},
	{name: "buy_400_null_price", path: "/buy", body: buyBody("price", `null`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_empty_object", path: "/buy", body: `{}`, header: jsonType, status: 400, field: "username"},
	// Prices out of range or over-precise: rejected, never rounded.
	{name: "buy_400_price_negative", path: "/buy", body: buyBody("price", `"-0.01"`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_price_negative_number", path: "/buy", body: buyBody("price", `-1`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_price_three_decimals", path: "/buy", body: buyBody("price", `"1.001"`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_price_three_decimals_number", path: "/buy", body: buyBody("price", `0.001`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_price_over_max", path: "/buy", body: buyBody("price", `"1000000000.00"`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_price_huge_number", path: "/buy", body: buyBody("price", `1e308`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_price_exponent", path: "/buy", body: buyBody("price", `1e2`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_price_nan", path: "/buy", body: buyBody("price", `"NaN"`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_price_comma", path: "/buy", body: buyBody("price", `"1,00"`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_price_plus", path: "/buy", body: buyBody("price", `"+1"`), header: jsonType, status: 400, field: "price"},
	{name: "buy_400_price_hex", path: "/buy", body: buyBody("price", `"0x10"`), header: jsonType, status: 400, field: "price"},
	// Impossible timestamps.
	{name: "buy_400_timestamp_month_13", path: "/buy", body: buyBody("timestamp", `"2024-13-01T00:00:00Z"`), header: jsonType, status: 400, field: "timestamp"},
	{name: "buy_400_timestamp_february_30", path: "/buy", body: buyBody("timestamp", `"2024-02-30T00:00:00Z"`), header: jsonType, status: 400, field: "timestamp"},
	{name: "buy_400_timestamp_hour_25", path: "/buy", body: buyBody("timestamp", `"2024-05-31T25:00:00Z"`), header: jsonType, status: 400, field: "timestamp"},
	{name: "buy_400_timestamp_before_1970", path: "/buy", body: buyBody("timestamp", `"1969-12-31T23:59:59.999Z"`), header: jsonType, status: 400, field: "timestamp"},
	{name: "buy_400_timestamp_microseconds", path: "/buy", body: buyBody("timestamp", `"2024-05-31T15:54:32.204001Z"`), header: jsonType, status: 400, field: "timestamp"},
	{name: "buy_400_timestamp_offset_hour_99", path: "/buy", body: buyBody("timestamp", `"2024-05-31T15:54:32.204+99:00"`), header: jsonType, status: 400, field: "timestamp"},
	{name: "buy_400_timestamp_no_zone", path: "/buy", body: buyBody("timestamp", `"2024-05-31T15:54:32"`), header: jsonType, status: 400, field: "timestamp"},
	{name: "buy_400_timestamp_words", path: "/buy", body: buyBody("timestamp", `"yesterday"`), header: jsonType, status: 400, field: "timestamp"},
	// Control characters, white space, invalid UTF-8.
	{name: "buy_400_username_nul", path: "/buy", body: buyBody("username", `"bad\u0000input"`), header: jsonType, status: 400, field: "username"},
	{name: "buy_400_username_newline", path: "/buy", body: buyBody("username", `"bad\ninput"`), header: jsonType, status: 400, field: "username"},
	{name: "buy_400_userid_escape_sequence", path: "/buy", body: buyBody("userid", `"b\u001b[31m1"`), header: jsonType, status: 400, field: "userid"},
	{name: "buy_400_username_del", path: "/buy", body: buyBody("username", `"bad\u007finput"`), header: jsonType, status: 400, field: "username"},
	{name: "buy_400_username_leading_space", path: "/buy", body: buyBody("username", `" badinput"`), header: jsonType, status: 400, field: "username"},
	{name: "buy_400_invalid_utf8", path: "/buy", body: buyBody("username", "\"bad\xffinput\""), header: jsonType, status: 400, field: "body"},
	// Not one JSON object.
	{name: "buy_400_not_json", path: "/buy", body: `username=badinput&price=1`, header: jsonType, status: 400, field: "body"},
	{name: "buy_400_json_array", path: "/buy", body: `[` + valid + `]`, header: jsonType, status: 400, field: "body"},
	{name: "buy_400_json_null", path: "/buy", body: `null`, header: jsonType, status: 400, field: "body"},
	{name: "buy_400_empty_body", path: "/buy", body: ``, header: jsonType, status: 400, field: "body"},
	{name: "buy_400_two_objects", path: "/buy", body: valid + valid, header: jsonType, status: 400, field: "body"},
	{name: "buy_400_truncated", path: "/buy", body: valid[:len(valid)-1], header: jsonType, status: 400, field: "body"},
	{name: "buy_400_deep_nesting", path: "/buy", body: deepNest, header: jsonType, status: 400, field: "body"},
	{name: "buy_400_unknown_field", path: "/buy", body: strings.Replace(valid, "{", `{"admin":true,`, 1), header: jsonType, status: 400, field: "admin"},
	// Size, content type, method, Idempotency-Key.
	{name: "buy_413_oversized", path: "/buy", body: overBuy, header: jsonType, status: 413, message: "larger than"},
	{name: "buy_415_text_plain", path: "/buy", body: valid, header: map[string]string{"Content-Type": "text/plain"}, status: 415, message: "Content-Type"},
	{name: "buy_415_form", path: "/buy", body: valid, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, status: 415, message: "Content-Type"},
	{name: "buy_415_multipart", path: "/buy", body: valid, header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, status: 415, message: "Content-Type"},
	{name: "buy_415_xml", path: "/buy", body: `<buy/>`, header: map[string]string{"Content-Type": "application/xml"}, status: 415, message: "Content-Type"},
	{name: "buy_405_get", method: "GET", path: "/buy", status: 405, message: "POST"},
	{name: "buy_405_put", method: "PUT", path: "/buy", body: valid, header: jsonType, status: 405, message: "POST"},
	{name: "buy_405_delete", method: "DELETE", path: "/buy", status: 405, message: "POST"},
	{name: "buy_400_idempotency_key_space", path: "/buy", body: valid, header: with(jsonType, "Idempotency-Key", "a b"), status: 400, field: "Idempotency-Key"},
	{name: "buy_400_idempotency_key_too_long", path: "/buy", body: valid, header: with(jsonType, "Idempotency-Key", longKey), status: 400, field: "Idempotency-Key"},
	{name: "buy_400_idempotency_key_non_ascii", path: "/buy", body: valid, header: with(jsonType, "Idempotency-Key", "ключ"), status: 400, field: "Idempotency-Key"},
	// POST /buy with malformed CloudEvents.
	{name: "buy_400_ce_wrong_type", path: "/buy", body: valid, header: ceBinary("bad-1", "com.example.other"), status: 400, field: "type"},
	{name: "buy_400_ce_missing_id", path: "/buy", body: valid, header: without(ceBinary("x", eventType), "Ce-Id"), status: 400},
	{name: "buy_400_ce_id_with_space", path: "/buy", body: valid, header: ceBinary("bad 1", eventType), status: 400, field: "id"},
	{name: "buy_400_ce_id_too_long", path: "/buy", body: valid, header: ceBinary(longEvtID, eventType), status: 400, field: "id"},
	{name: "buy_400_ce_bad_time", path: "/buy", body: valid, header: with(ceBinary("bad-2", eventType), "Ce-Time", "yesterday"), status: 400},
	{name: "buy_400_ce_structured_garbage", path: "/buy", body: `{"specversion":`, header: ceJSON, status: 400, field: "event"},
	{name: "buy_400_ce_structured_wrong_types", path: "/buy", body: `{"specversion":1,"id":5,"source":[],"type":{}}`, header: ceJSON, status: 400, field: "event"},
	{name: "buy_400_ce_data_not_object", path: "/buy", body: structured("bad-3", `"a string"`), header: ceJSON, status: 400, field: "body"},
	{name: "buy_400_ce_data_operator", path: "/buy", body: structured("bad-4", buyBody("username", `{"$ne":""}`)), header: ceJSON, status: 400, field: "username"},
	// GET /getAllUserBuys/{username}.
	{name: "list_400_limit_zero", method: "GET", path: "/getAllUserBuys/badinput?limit=0", status: 400, field: "limit"},
	{name: "list_400_limit_negative", method: "GET", path: "/getAllUserBuys/badinput?limit=-1", status: 400, field: "limit"},
	{name: "list_400_limit_word", method: "GET", path: "/getAllUserBuys/badinput?limit=ten", status: 400, field: "limit"},
	{name: "list_400_limit_over_max", method: "GET", path: "/getAllUserBuys/badinput?limit=1001", status: 400, field: "limit"},
	{name: "list_400_limit_exponent", method: "GET", path: "/getAllUserBuys/badinput?limit=1e2", status: 400, field: "limit"},
	{name: "list_400_cursor_symbols", method: "GET", path: "/getAllUserBuys/badinput?cursor=%7B%22%24gt%22%3A%22%22%7D", status: 400, field: "cursor"},
	{name: "list_400_cursor_too_long", method: "GET", path: "/getAllUserBuys/badinput?cursor=" + longCursor, status: 400, field: "cursor"},
	{name: "list_400_cursor_forged", method: "GET", path: "/getAllUserBuys/badinput?cursor=eyJ0IjoieCJ9", status: 400, field: "cursor"},
	{name: "list_400_username_nul", method: "GET", path: "/getAllUserBuys/bad%00input", status: 400, field: "username"},
	{name: "list_400_username_newline", method: "GET", path: "/getAllUserBuys/bad%0Ainput", status: 400, field: "username"},
	{name: "list_400_username_trailing_space", method: "GET", path: "/getAllUserBuys/badinput%20", status: 400, field: "username"},
	{name: "list_400_username_too_long", method: "GET", path: "/getAllUserBuys/" + strings.Repeat("u", 101), status: 400, field: "username"},
	{name: "list_405_post", path: "/getAllUserBuys/badinput", body: valid, header: jsonType, status: 405, message: "GET"},
	{name: "list_405_delete", method: "DELETE", path: "/getAllUserBuys/badinput", status: 405, message: "GET"},
	// cm-api's POST /: what a KafkaSource might deliver.
	{name: "api_415_plain_json", api: true, path: "/", body: valid, header: jsonType, status: 415, message: "CloudEvent"},
	{name: "api_415_text", api: true, path: "/", body: "hello", header: map[string]string{"Content-Type": "text/plain"}, status: 415, message: "CloudEvent"},
	{name: "api_415_no_headers", api: true, path: "/", body: valid, status: 415, message: "CloudEvent"},
	{name: "api_400_wrong_type", api: true, path: "/", body: valid, header: ceBinary("bad-10", "dev.knative.kafka.event"), status: 400, field: "type"},
	{name: "api_400_missing_id", api: true, path: "/", body: valid, header: without(ceBinary("x", eventType), "Ce-Id"), status: 400},
	{name: "api_400_id_operator", api: true, path: "/", body: valid, header: ceBinary("$where", eventType), status: 400, field: "id"},
	{name: "api_400_bad_time", api: true, path: "/", body: valid, header: with(ceBinary("bad-12", eventType), "Ce-Time", "2024-02-30T00:00:00Z"), status: 400},
	{name: "api_400_xml_data", api: true, path: "/", body: `<buy/>`, header: with(ceBinary("bad-13", eventType), "Content-Type", "application/xml"), status: 400, field: "datacontenttype"},
	{name: "api_400_missing_timestamp", api: true, path: "/", body: buyBody("timestamp", ""), header: ceBinary("bad-14", eventType), status: 400, field: "timestamp"},
	{name: "api_400_negative_price", api: true, path: "/", body: buyBody("price", `"-1"`), header: ceBinary("bad-15", eventType), status: 400, field: "price"},
	{name: "api_400_operator_in_data", api: true, path: "/", body: buyBody("username", `{"$ne":""}`), header: ceBinary("bad-16", eventType), status: 400, field: "username"},
	{name: "api_400_invalid_utf8_data", api: true, path: "/", body: buyBody("username", "\"bad\xffinput\""), header: ceBinary("bad-17", eventType), status: 400, field: "body"},
	{name: "api_400_empty_data", api: true, path: "/", body: "", header: ceBinary("bad-18", eventType), status: 400, field: "data"},
	{name: "api_400_structured_garbage", api: true, path: "/", body: `{"specversion":"1.0","id":`, header: ceJSON, status: 400, field: "event"},
	{name: "api_400_structured_wrong_types", api: true, path: "/", body: `{"specversion":"1.0","id":7,"source":"/t","type":"` + eventType + `"}`, header: ceJSON, status: 400, field: "event"},
	{name: "api_400_structured_data_not_object", api: true, path: "/", body: structured("bad-19", `[1,2]`), header: ceJSON, status: 400, field: "body"},
	{name: "api_413_oversized", api: true, path: "/", body: overEvent, header: ceBinary("bad-20", eventType), status: 413, message: "larger than"},
	{name: "api_405_get", api: true, method: "GET", path: "/", status: 405, message: "POST"},
	{name: "api_405_put", api: true, method: "PUT", path: "/", body: valid, header: ceBinary("bad-21", eventType), status: 405, message: "POST"},
	{name: "api_400_buylist_limit", api: true, method: "GET", path: "/buyList/badinput?limit=0", status: 400, field: "limit"},
	{name: "api_400_buylist_username_control", api: true, method: "GET", path: "/buyList/bad%07input", status: 400, field: "username"},
}

// TestBadInputIsRejected sends every malformed request in badRequests and
// badCredentials to the running shop (Kafka mode, credentials required).
// Each gets its 4xx in the one JSON error shape, naming the field where there
// is one; none is a 5xx. Afterwards nothing was produced to Kafka or stored,
// and both functions are still ready.
func TestBadInputIsRejected(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shoppers, events := authtest.NewIssuer(t, "scalable-shop"), authtest.NewIssuer(t, "cm-api-events")
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, map[string]string{"EVENTS_AUDIENCE": events.Audience, "EVENTS_ISSUER_URL": events.URL,
		"EVENTS_ALLOWED_SUBJECTS": sourceSubject})
	shop.StartServer("", shopperEnv(shoppers))
	shop.Authorization = "Bearer " + serviceKey
	serverAuth, apiAuth := credentials(t, shoppers, events)

	t.Run("table", func(t *testing.T) {
		for _, tt := range append(badRequests, badCredentials...) {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				base, method, creds := shop.ServerURL, tt.method, serverAuth
				if tt.api {
					base, creds = shop.APIURL, apiAuth
				}
				header := tt.header
				if cred, ok := creds[tt.auth]; !ok && tt.auth != "none" {
					t.Fatalf("no credential %q", tt.auth)
				} else if ok {
					header = with(tt.header, "Authorization", cred)
				}
				if method == "" {
					method = "POST"
				}
				a := send(method, base+tt.path, tt.body, header, 10*time.Second)
				if a.err != nil {
					t.Fatalf("%s %s: %v", method, tt.path, a.err)
				}
				e, bad := a.jsonError()
				if a.status != tt.status || bad != "" {
					t.Fatalf("%s %s: got %d %s (%s), want %d JSON error", method, tt.path, a.status, a.body, bad, tt.status)
				}
				if tt.field != "" && e.Errors[tt.field] == "" {
					t.Errorf("errors: got %v, want a problem with %q", e.Errors, tt.field)
				}
				if !strings.Contains(e.Message, tt.message) {
					t.Errorf("message: got %q, want it to mention %q", e.Message, tt.message)
				}
				if tt.status == http.StatusMethodNotAllowed && a.header.Get("Allow") == "" {
					t.Error("405 without Allow")
				}
				if tt.status == http.StatusUnauthorized && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401: got WWW-Authenticate %q, want a Bearer challenge", a.header.Get("WWW-Authenticate"))
				}
				if cred := header["Authorization"]; cred != "" && strings.Contains(string(a.body), strings.TrimPrefix(cred, "Bearer ")) {
					t.Error("the answer echoes the credential")
				}
			})
		}
	})

	if n := len(badRequests) + len(badCredentials); n < 40 {
		t.Errorf("bad requests: got %d, want at least 40", n)
	}
	if n := shop.TopicRecords(t); n != 0 {
		t.Errorf("records in %s after the bad requests: got %d, want 0", shop.Topic, n)
	}
	// cm-api consumes nothing, so anything stored came in through POST /.
	if n := shop.StoredCount(t); n != 0 {
		t.Errorf("stored purchases after the bad requests: got %d, want 0", n)
	}
	if ps, err := shop.AllUserBuys("badinput", 100); err != nil || len(ps) != 0 {
		t.Errorf("badinput's purchases: got %v %v, want none", ps, err)
	}
	for _, url := range []string{shop.ServerURL, shop.APIURL} {
		if got := readyzStatus(url); got != http.StatusOK {
			t.Errorf("%s/readyz after the bad requests: got %d, want 200", url, got)
		}
	}
}
