package browser

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// history is what the shopper bought before the test opens the page:
// price and days ago, so the table has two pages and the chart a shape.
var history = []struct {
	price   string
	daysAgo int
}{
	{"89.90", 84}, {"12.50", 77}, {"249.00", 70}, {"34.99", 61}, {"7.25", 55}, {"129.00", 47},
	{"18.40", 40}, {"560.00", 33}, {"23.75", 26}, {"64.10", 18}, {"9.99", 11}, {"310.00", 4},
}

// seed buys the history through the API and waits until it is stored.
func seed(t *testing.T, shop *harness.Shop) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i, h := range history {
		ts := now.Add(-time.Duration(h.daysAgo)*24*time.Hour - time.Duration(i)*37*time.Minute)
		body := fmt.Sprintf(`{"username":%s,"userid":%s,"price":%s,"timestamp":%s}`,
			js(shopper), js(userID), js(h.price), js(ts.Format("2006-01-02T15:04:05.000Z")))
		if status, resp, err := shop.Buy(body, nil); err != nil || status != http.StatusAccepted {
			t.Fatalf("seed purchase %d: got %d %+v %v, want 202", i, status, resp, err)
		}
	}
	harness.Eventually(t, 15*time.Second, func() string {
		stored, err := shop.AllUserBuys(shopper, 100)
		if err != nil || len(stored) != len(history) {
			return fmt.Sprintf("stored %d of %d seeded purchases (%v)", len(stored), len(history), err)
		}
		return ""
	})
}

func prices() []string {
	var ps []string
	for _, h := range history {
		ps = append(ps, h.price)
	}
	return ps
}

// totalOf adds prices in cents and writes the sum the way the page does: "1,234.50".
func totalOf(prices []string) string {
	var cents int
	for _, p := range prices {
		whole, frac, _ := strings.Cut(p, ".")
		w, _ := strconv.Atoi(whole)
		f, _ := strconv.Atoi(frac)
		cents += w*100 + f
	}
	s := strconv.Itoa(cents / 100)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return fmt.Sprintf("%s.%02d", s, cents%100)
}

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("time zone data: %v", err)
	}
	return loc
}
