// Package e2e runs the shop end to end: the real cm-server and cm-api
// binaries, a real Kafka broker (KAFKA_BROKERS) and a MongoDB wire-protocol
// store, driven the way a shopper's curl drives them.
package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// visibleWithin bounds how long a purchase may take from "Ok!" to
// getAllUserBuys in these tests (it is milliseconds when healthy).
const visibleWithin = 30 * time.Second

const joe = `{"username":"joe","userid":"005","price":"1195.30","timestamp":"2024-05-31T15:54:32.204Z"}`

// waitForPurchases waits until username has exactly the purchases with ids
// (in any order) and returns them in the order the API lists them.
func waitForPurchases(t *testing.T, shop *harness.Shop, username string, ids ...string) []harness.Purchase {
	t.Helper()
	var got []harness.Purchase
	harness.Eventually(t, visibleWithin, func() string {
		ps, err := shop.AllUserBuys(username, 1000)
		if err != nil {
			return err.Error()
		}
		got = ps
		var have []string
		for _, p := range ps {
			have = append(have, p.ID)
		}
		slices.Sort(have)
		want := slices.Sorted(slices.Values(ids))
		if !slices.Equal(have, want) {
			return fmt.Sprintf("%s's purchases: got ids %v, want %v", username, have, want)
		}
		return ""
	})
	return got
}

// buyOK buys and fails the test unless the answer is the "Ok!" contract.
func buyOK(t *testing.T, shop *harness.Shop, body string, header map[string]string) string {
	t.Helper()
	status, resp, err := shop.Buy(body, header)
	if err != nil || status != http.StatusAccepted || resp.Status != "Ok!" ||
		resp.Message != "Message successfully sent to Kafka!" || resp.ID == "" {
		t.Fatalf("buy %s: got %d %+v %v, want 202 Ok! with an id", body, status, resp, err)
	}
	return resp.ID
}

// curlFlow is the README's curl session, run against either deployment mode.
func curlFlow(t *testing.T, shop *harness.Shop) {
	resp, err := http.Get(shop.ServerURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "Success" {
		t.Errorf("healthz: got %d %q, want 200 Success", resp.StatusCode, body)
	}

	id := buyOK(t, shop, joe, nil)
	got := waitForPurchases(t, shop, "joe", id)
	want := harness.Purchase{ID: id, Username: "joe", UserID: "005", Price: "1195.30", Timestamp: "2024-05-31T15:54:32.204Z"}
	if got[0] != want {
		t.Errorf("joe's purchase: got %+v, want %+v", got[0], want)
	}

	// A path-segment name with a space, an apostrophe and a non-ASCII letter;
	// a numeric price; no timestamp, so the server sets it.
	before := time.Now().UTC().Truncate(time.Millisecond)
	zoe := buyOK(t, shop, `{"username":"Zoë O'Brien","userid":"z-1","price":10.5}`, nil)
	after := time.Now().UTC()
	p := waitForPurchases(t, shop, "Zoë O'Brien", zoe)[0]
	ts, err := time.Parse(time.RFC3339Nano, p.Timestamp)
	if p.Price != "10.50" || err != nil || ts.Before(before) || ts.After(after) {
		t.Errorf("Zoë's purchase: got %+v, want price 10.50 and a server time in [%v, %v]", p, before, after)
	}

	raw, err := http.Get(shop.ServerURL + "/getAllUserBuys/" + url.PathEscape("no purchases yet"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(raw.Body)
	raw.Body.Close()
	if raw.StatusCode != http.StatusOK || !strings.Contains(string(body), `"purchases":[]`) {
		t.Errorf("user without purchases: got %d %s, want 200 with \"purchases\":[]", raw.StatusCode, body)
	}

	status, bad, err := shop.Buy(`{"username":"joe","userid":"005","price":"-1"}`, nil)
	if err != nil || status != http.StatusBadRequest || bad.Errors["price"] == "" {
		t.Errorf("negative price: got %d %+v %v, want 400 naming price", status, bad, err)
	}
}

func TestKafkaModeCurlFlow(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", nil)
	curlFlow(t, shop)
}

func TestKnativeModeCurlFlow(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	sink := harness.StartKafkaSink(t, brokers, shop.Topic)
	shop.StartAPI(false, nil)
	source := shop.StartKafkaSource(1)
	shop.StartServer(sink, nil)
	curlFlow(t, shop)
	if n := source.Delivered.Load(); n < 2 {
		t.Errorf("KafkaSource stand-in delivered %d events, want at least 2", n)
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", nil)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 25 {
		// Pairs of purchases share a timestamp, so pages split ties.
		ts := base.Add(time.Duration(i/2) * time.Minute).Format("2006-01-02T15:04:05.000Z")
		ids = append(ids, buyOK(t, shop, fmt.Sprintf(`{"username":"pager","userid":"p","price":"%d.01","timestamp":%q}`, i, ts), nil))
	}
	waitForPurchases(t, shop, "pager", ids...)
	pages := 0
	var seen []harness.Purchase
	q := url.Values{"limit": {"10"}}
	for {
		status, page, err := shop.UserBuys("pager", q)
		if err != nil || status != http.StatusOK {
			t.Fatalf("page %d: got %d %v", pages+1, status, err)
		}
		pages++
		seen = append(seen, page.Purchases...)
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if pages != 3 || len(seen) != 25 {
		t.Fatalf("got %d purchases on %d pages, want 25 on 3", len(seen), pages)
	}
	for i := 1; i < len(seen); i++ {
		a, b := seen[i-1], seen[i]
		if a.Timestamp < b.Timestamp || (a.Timestamp == b.Timestamp && a.ID <= b.ID) {
			t.Errorf("order: %s/%s listed before %s/%s, want newest first, then id descending", a.Timestamp, a.ID, b.Timestamp, b.ID)
		}
	}
	if status, _, _ := shop.UserBuys("pager", url.Values{"limit": {"1001"}}); status != http.StatusBadRequest {
		t.Errorf("limit=1001: got %d, want 400", status)
	}
}
