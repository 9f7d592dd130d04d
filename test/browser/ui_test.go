package browser

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

const (
	shopper = "Ada Lovelace"
	userID  = "1815"
)

var purchaseID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestShopUI buys through the page the way a shopper does and checks what
// the page shows against what the shop stored. The steps run in order on
// one page.
func TestShopUI(t *testing.T) {
	brokers := harness.Integration(t)
	chrome := chromePath(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", nil)
	seed(t, shop)
	s := &session{shop: shop, start: time.Now(), b: newBrowser(t, chrome)}
	for _, step := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"page_opens_with_the_time_prefilled", s.opensWithTheTimePrefilled},
		{"browser_rules_match_the_server", s.rulesMatchTheServer},
		{"bad_price_is_refused_in_the_browser", s.refusesBadPrices},
		{"keyboard_buy_shows_the_purchase_id", s.buysWithTheKeyboard},
		{"getAllUserBuys_shows_the_row_and_total", s.listsThePurchase},
		{"desktop_screenshot", s.screenshotsTheDesktop},
		{"double_click_buys_once", s.buysOnceOnADoubleClick},
		{"older_and_newer_page_through", s.pagesThrough},
		{"server_error_is_shown_next_to_the_field", s.showsAServerError},
		{"retry_after_a_network_error_is_the_same_purchase", s.retriesAsTheSamePurchase},
		{"user_is_remembered", s.remembersTheUser},
		{"phone_width_has_no_horizontal_scroll", s.fitsAPhone},
		{"no_console_errors_or_csp_violations", s.hadNoConsoleErrors},
		{"the_shop_stored_exactly_the_page_purchases", s.storedThePagePurchases},
	} {
		t.Run(step.name, step.run)
	}
}

// session is the state the steps of TestShopUI share.
type session struct {
	shop              *harness.Shop
	b                 *browser
	start             time.Time
	firstID, secondID string // bought through the page
	retriedID         string // bought through the page on the second try
}

// opensWithTheTimePrefilled opens the page in a fresh browser: nobody remembered,
// the timestamp is now.
func (s *session) opensWithTheTimePrefilled(t *testing.T) {
	s.b.run(t, chromedp.Navigate(s.shop.ServerURL+"/"), chromedp.WaitVisible("#buy", chromedp.ByQuery))
	var state struct{ Username, Timestamp string }
	s.b.eval(t, `({username: document.getElementById("username").value,
		timestamp: document.getElementById("timestamp").value})`, &state)
	if state.Username != "" {
		t.Errorf("username in a fresh browser: got %q, want empty", state.Username)
	}
	// The input drops trailing zeros of the milliseconds (".640" -> ".64").
	prefilled, err := time.ParseInLocation("2006-01-02T15:04:05", state.Timestamp, berlin(t))
	if err != nil || time.Since(prefilled).Abs() > time.Minute {
		t.Errorf("timestamp: got %q, want the current local (Berlin) time with milliseconds", state.Timestamp)
	}
}

// refusesBadPrices types bad prices: each is refused next to the field and nothing is sent.
func (s *session) refusesBadPrices(t *testing.T) {
	s.b.typeInto(t, "username", shopper)
	s.b.typeInto(t, "userid", userID)
	for _, tt := range []struct{ price, want string }{
		{"-1", "Price must not be negative."},
		{"1.005", "Price must have at most 2 decimal places."},
		{"1,50", "Price must be digits with an optional '.'"},
	} {
		s.b.typeInto(t, "price", tt.price)
		s.b.run(t, chromedp.Click("#buy", chromedp.ByQuery))
		s.b.expectFieldError(t, "price", tt.want)
	}
	if sent := s.b.sentBuys(); len(sent) != 0 {
		t.Errorf("requests sent for invalid prices: got %d, want none", len(sent))
	}
}

// buysWithTheKeyboard tabs to Buy and presses Enter: the page shows the purchase id.
func (s *session) buysWithTheKeyboard(t *testing.T) {
	s.b.typeInto(t, "price", "1195.30")
	// From the price, Tab goes through the timestamp's parts to Buy.
	var path []string
	for focused := "price"; focused != "buy"; {
		if len(path) == 15 {
			t.Fatalf("Tab from the price never reached Buy: focus went %v", path)
		}
		s.b.run(t, chromedp.KeyEvent(kb.Tab))
		s.b.eval(t, `document.activeElement.id`, &focused)
		path = append(path, focused)
	}
	s.b.run(t, chromedp.KeyEvent(kb.Enter))
	s.b.waitFor(t, "the purchase id", `document.getElementById("purchase-id")?.textContent`, &s.firstID)
	if !purchaseID.MatchString(s.firstID) {
		t.Errorf("purchase id: got %q, want a UUID", s.firstID)
	}
	var invalid bool
	s.b.eval(t, `document.getElementById("price").hasAttribute("aria-invalid")`, &invalid)
	if invalid {
		t.Error("price still marked invalid after a successful purchase")
	}
}

// listsThePurchase clicks getAllUserBuys: the new row, the total, the pager and the chart.
func (s *session) listsThePurchase(t *testing.T) {
	s.b.run(t, chromedp.Click("#list", chromedp.ByQuery))
	var row string
	s.b.waitFor(t, "the new purchase's row", rowText(s.firstID), &row)
	if !strings.Contains(row, "1,195.30") {
		t.Errorf("row: got %q, want the price 1,195.30", row)
	}
	want := totalOf(append(prices(), "1195.30"))
	s.b.waitFor(t, "the total "+want, fmt.Sprintf(`document.getElementById("total").textContent === %s`, js(want)), nil)
	s.b.expectPage(t, "Page 1 of 2", 10)
	var dots int
	s.b.eval(t, `document.querySelectorAll("#chart circle").length`, &dots)
	if dots != len(history)+1 {
		t.Errorf("chart points: got %d, want one per purchase (%d)", dots, len(history)+1)
	}
}

// screenshotsTheDesktop saves the page at desktop width; UPDATE_SCREENSHOT=1 also
// makes it the README's docs/screenshot.png.
func (s *session) screenshotsTheDesktop(t *testing.T) {
	s.b.run(t, chromedp.EmulateViewport(1280, 900))
	path := s.b.screenshot(t, "desktop.png")
	if os.Getenv("UPDATE_SCREENSHOT") == "1" {
		docs := filepath.Join("..", "..", "docs")
		png, err := os.ReadFile(path)
		if err == nil {
			err = os.MkdirAll(docs, 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(docs, "screenshot.png"), png, 0o644)
		}
		if err != nil {
			t.Fatalf("update docs/screenshot.png: %v", err)
		}
	}
}

// buysOnceOnADoubleClick double-clicks Buy: one request, one purchase, a new Idempotency-Key.
func (s *session) buysOnceOnADoubleClick(t *testing.T) {
	before := len(s.b.sentBuys())
	s.b.typeInto(t, "price", "42.00")
	s.b.run(t, chromedp.DoubleClick("#buy", chromedp.ByQuery))
	s.b.waitFor(t, "a new purchase id", fmt.Sprintf(`(() => { const id = document.getElementById("purchase-id")?.textContent;
		return id !== %s && id })()`, js(s.firstID)), &s.secondID)
	s.b.waitFor(t, "the new row", rowText(s.secondID), nil)
	sent := s.b.sentBuys()[before:]
	if len(sent) != 1 {
		t.Fatalf("requests for one double click: got %d, want 1", len(sent))
	}
	if first := s.b.sentBuys()[0]; sent[0].Key == "" || sent[0].Key == first.Key {
		t.Errorf("Idempotency-Key: got %q after %q, want a new key per purchase", sent[0].Key, first.Key)
	}
}

// pagesThrough goes to the older page and back.
func (s *session) pagesThrough(t *testing.T) {
	s.b.waitFor(t, "the count of 14", `document.getElementById("count").textContent === "14"`, nil)
	s.b.run(t, chromedp.Click("#older", chromedp.ByQuery))
	s.b.expectPage(t, "Page 2 of 2", 4)
	s.b.run(t, chromedp.Click("#newer", chromedp.ByQuery))
	s.b.expectPage(t, "Page 1 of 2", 10)
	s.b.waitFor(t, "the first purchase back on page 1", rowText(s.firstID), nil)
}

// showsAServerError makes the server refuse a purchase the page accepted: its
// problem shows next to the field.
func (s *session) showsAServerError(t *testing.T) {
	// The page never sends a timestamp finer than milliseconds; rewrite
	// one in flight so that only the server can refuse it.
	s.b.rewriteNextBuy(func(body string) string {
		var p map[string]any
		_ = json.Unmarshal([]byte(body), &p)
		p["timestamp"] = "2024-05-31T15:54:32.204123Z"
		out, _ := json.Marshal(p)
		return string(out)
	})
	before := len(s.b.sentBuys())
	s.b.typeInto(t, "price", "5.00")
	s.b.run(t, chromedp.Click("#buy", chromedp.ByQuery))
	s.b.expectFieldError(t, "timestamp", "Timestamp must have at most millisecond precision.")
	if got := len(s.b.sentBuys()) - before; got != 1 {
		t.Errorf("requests: got %d, want 1 (the server, not the page, refused it)", got)
	}
}

// retriesAsTheSamePurchase fails a purchase on the way out: the page offers
// a retry, and the retry carries the same body and Idempotency-Key.
func (s *session) retriesAsTheSamePurchase(t *testing.T) {
	s.b.failNextBuy()
	before := len(s.b.sentBuys())
	s.b.typeInto(t, "price", "3.50")
	s.b.run(t, chromedp.Click("#buy", chromedp.ByQuery))
	s.b.waitFor(t, "the offer to try again",
		`document.getElementById("form-error").textContent.includes("try again")`, nil)
	s.b.run(t, chromedp.Click("#buy", chromedp.ByQuery))
	s.b.waitFor(t, "the retried purchase's id", fmt.Sprintf(`(() => { const id = document.getElementById("purchase-id")?.textContent;
		return id !== %s && id })()`, js(s.secondID)), &s.retriedID)
	sent := s.b.sentBuys()[before:]
	if len(sent) != 2 || sent[0] != sent[1] {
		t.Errorf("requests: got %+v, want the same one twice", sent)
	}
}

// remembersTheUser reloads the page: the user is still there, with their
// purchases. The reload lists them once, so it waits until the shop has
// stored the last one (its buy was only acknowledged).
func (s *session) remembersTheUser(t *testing.T) {
	harness.Eventually(t, waitTimeout, func() string {
		code, stored := userBuys(t, s.shop, shopper, "")
		for _, p := range stored {
			if p.ID == s.retriedID {
				return ""
			}
		}
		return fmt.Sprintf("getAllUserBuys: %d without %s yet", code, s.retriedID)
	})
	s.b.run(t, chromedp.Navigate(s.shop.ServerURL+"/"), chromedp.WaitVisible("#buy", chromedp.ByQuery))
	var got struct{ Username, UserID string }
	s.b.eval(t, `({username: document.getElementById("username").value, userid: document.getElementById("userid").value})`, &got)
	if got.Username != shopper || got.UserID != userID {
		t.Errorf("after reload: got %+v, want %s / %s", got, shopper, userID)
	}
	s.b.waitFor(t, "the purchases shown without a click", rowText(s.retriedID), nil)
}

// fitsAPhone narrows the page to a phone: nothing scrolls sideways.
func (s *session) fitsAPhone(t *testing.T) {
	s.b.run(t, chromedp.EmulateViewport(375, 800, chromedp.EmulateMobile))
	s.b.waitFor(t, "the purchases at phone width", rowText(s.retriedID), nil)
	var width int
	s.b.eval(t, `document.scrollingElement.scrollWidth`, &width)
	if width > 375 {
		t.Errorf("scrollWidth at 375 px: got %d, want <= 375", width)
	}
	s.b.screenshot(t, "phone.png")
}

// hadNoConsoleErrors checks that nothing failed in the page, CSP violations included.
func (s *session) hadNoConsoleErrors(t *testing.T) { expectNoProblems(t, s.b) }

// storedThePagePurchases checks the page's purchases against what the shop
// stored: each once, none of the refused ones.
func (s *session) storedThePagePurchases(t *testing.T) {
	want := map[string]string{s.firstID: "1195.30", s.secondID: "42.00", s.retriedID: "3.50"}
	byID := map[string]harness.Purchase{}
	harness.Eventually(t, waitTimeout, func() string {
		stored, err := s.shop.AllUserBuys(shopper, 100)
		if err != nil {
			return err.Error()
		}
		clear(byID)
		for _, p := range stored {
			byID[p.ID] = p
		}
		for id, price := range want {
			if byID[id].Price != price {
				return fmt.Sprintf("purchase %s: got %+v, want one with price %s", id, byID[id], price)
			}
		}
		if len(stored) != len(history)+len(want) {
			return fmt.Sprintf("got %d purchases, want %d (the history and the page's)", len(stored), len(history)+len(want))
		}
		return ""
	})
	p := byID[s.firstID]
	ts, err := time.Parse(time.RFC3339Nano, p.Timestamp)
	if err != nil || !strings.HasSuffix(p.Timestamp, "Z") || ts.Before(s.start.Add(-time.Minute)) || ts.After(time.Now()) {
		t.Errorf("timestamp: got %q, want the page's local time as UTC, between %s and now",
			p.Timestamp, s.start.UTC().Format(time.RFC3339))
	}
	if p.Username != shopper || p.UserID != userID {
		t.Errorf("user: got %s / %s, want %s / %s", p.Username, p.UserID, shopper, userID)
	}
}
