package browser

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

const (
	apiKey    = "browser-test-key-6f1c2a9e"
	keyBuyer  = "Grace Hopper"
	keyUserID = "1906"
	// keyRefused is the shop's 401 message as the page shows it next to the field.
	keyRefused = "Missing or invalid API key: send Authorization: Bearer <key>."
)

var retryIn = regexp.MustCompile(`Too many purchases; retry in (\d+) s\.`)

// TestShopUIWithAPIKey runs the page against a shop that requires an API key
// and lets each key buy once per five seconds: the page sends the key the
// shopper gives it, keeps it for the tab only, and explains a refused key
// and a purchase that came too soon. The steps run in order on one page.
func TestShopUIWithAPIKey(t *testing.T) {
	brokers := harness.Integration(t)
	chrome := chromePath(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", map[string]string{"API_KEYS": apiKey, "BUY_RATE_LIMIT": "0.2", "BUY_RATE_BURST": "1"})
	s := &keySession{shop: shop, b: newBrowser(t, chrome)}
	for _, step := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"buy_without_a_key_shows_the_401_at_the_key_field", s.refusesAMissingKey},
		{"buy_with_the_key_is_accepted", s.buysWithTheKey},
		{"429_says_when_to_retry_and_the_retry_is_the_same_purchase", s.retriesAfterTooMany},
		{"getAllUserBuys_with_the_key_lists_the_purchases", s.listsWithTheKey},
		{"key_is_kept_in_sessionStorage_only", s.keepsTheKeyForTheTab},
		{"new_tab_has_no_key_and_says_so_at_phone_width", s.newTabAsksForTheKey},
		{"forget_key_clears_it", s.forgetsTheKey},
		{"no_console_errors_or_csp_violations", func(t *testing.T) { expectNoProblems(t, s.b) }},
		{"the_shop_stored_exactly_the_accepted_purchases", s.storedTheAcceptedPurchases},
	} {
		t.Run(step.name, step.run)
	}
}

// keySession is the state the steps of TestShopUIWithAPIKey share.
type keySession struct {
	shop               *harness.Shop
	b                  *browser
	firstID, retriedID string // bought through the page
}

// refusesAMissingKey buys without a key: the shop's 401 shows at the key
// field, and nothing is bought.
func (s *keySession) refusesAMissingKey(t *testing.T) {
	s.b.run(t, chromedp.Navigate(s.shop.ServerURL+"/"), chromedp.WaitVisible("#apikey", chromedp.ByQuery))
	s.b.expectSecretField(t, "apikey")
	s.b.typeInto(t, "username", keyBuyer)
	s.b.typeInto(t, "userid", keyUserID)
	s.b.typeInto(t, "price", "19.99")
	s.b.run(t, chromedp.Click("#buy", chromedp.ByQuery))
	s.b.expectFieldError(t, "apikey", keyRefused)
	sent := s.b.sentBuys()
	if len(sent) != 1 || sent[0].Auth != "" {
		t.Errorf("requests: got %+v, want one without Authorization", sent)
	}
	var status string
	s.b.eval(t, `document.getElementById("buy-status").textContent`, &status)
	if status != "" {
		t.Errorf("outcome after a 401: got %q, want none", status)
	}
	if code, stored := userBuys(t, s.shop, keyBuyer, apiKey); code != http.StatusOK || len(stored) != 0 {
		t.Errorf("stored after a 401: got %d %+v, want 200 and nothing", code, stored)
	}
}

// buysWithTheKey types the key (which clears the error) and buys: accepted,
// with "Authorization: Bearer <key>".
func (s *keySession) buysWithTheKey(t *testing.T) {
	s.b.typeInto(t, "apikey", apiKey)
	var invalid bool
	s.b.eval(t, `document.getElementById("apikey").hasAttribute("aria-invalid")`, &invalid)
	if invalid {
		t.Error("API key still marked invalid after typing a new one")
	}
	s.b.run(t, chromedp.Click("#buy", chromedp.ByQuery))
	s.b.waitFor(t, "the purchase id", `document.getElementById("purchase-id")?.textContent`, &s.firstID)
	if !purchaseID.MatchString(s.firstID) {
		t.Errorf("purchase id: got %q, want a UUID", s.firstID)
	}
	sent := s.b.sentBuys()
	if last := sent[len(sent)-1]; last.Auth != "Bearer "+apiKey {
		t.Errorf("Authorization: got %q, want %q", last.Auth, "Bearer "+apiKey)
	}
}

// retriesAfterTooMany buys again at once: over the limit, the page says in
// how many seconds to retry. After that the retry, the same request, is accepted.
func (s *keySession) retriesAfterTooMany(t *testing.T) {
	before := len(s.b.sentBuys())
	s.b.typeInto(t, "price", "5.00")
	s.b.run(t, chromedp.Click("#buy", chromedp.ByQuery))
	var msg string
	s.b.waitFor(t, "the retry message", `(() => { const m = document.getElementById("form-error").textContent;
		return m.includes("Too many purchases") && m })()`, &msg)
	m := retryIn.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("message: got %q, want %q", msg, retryIn)
	}
	wait, _ := strconv.Atoi(m[1])
	if wait < 1 || wait > 5 {
		t.Errorf("retry in: got %d s, want 1 to 5 (one purchase per 5 s)", wait)
	}
	time.Sleep(time.Duration(wait)*time.Second + 200*time.Millisecond)
	s.b.run(t, chromedp.Click("#buy", chromedp.ByQuery))
	s.b.waitFor(t, "the retried purchase's id", fmt.Sprintf(`(() => { const id = document.getElementById("purchase-id")?.textContent;
		return id !== %s && id })()`, js(s.firstID)), &s.retriedID)
	sent := s.b.sentBuys()[before:]
	if len(sent) != 2 || sent[0] != sent[1] {
		t.Errorf("requests: got %+v, want the same one twice", sent)
	}
}

// listsWithTheKey clicks getAllUserBuys: both purchases are listed, and the
// API gives them only to a caller with the key.
func (s *keySession) listsWithTheKey(t *testing.T) {
	s.b.run(t, chromedp.Click("#list", chromedp.ByQuery))
	for _, id := range []string{s.firstID, s.retriedID} {
		s.b.waitFor(t, "the row of "+id, rowText(id), nil)
	}
	s.b.waitFor(t, "the total 24.99", `document.getElementById("total").textContent === "24.99"`, nil)
	if code, _ := userBuys(t, s.shop, keyBuyer, ""); code != http.StatusUnauthorized {
		t.Errorf("getAllUserBuys without a key: got %d, want 401", code)
	}
}

// keepsTheKeyForTheTab checks where the key is kept, and that a reload
// (the same tab) still has it: the purchases show without a click.
func (s *keySession) keepsTheKeyForTheTab(t *testing.T) {
	const inLocal = `Object.keys(localStorage).some((k) => (k + localStorage.getItem(k)).includes(%s))`
	var session string
	var local bool
	s.b.eval(t, `sessionStorage.getItem("shop.apikey")`, &session)
	s.b.eval(t, fmt.Sprintf(inLocal, js(apiKey)), &local)
	if session != apiKey || local {
		t.Errorf("key: got sessionStorage %q and in localStorage %v, want %q and false", session, local, apiKey)
	}
	s.b.run(t, chromedp.Navigate(s.shop.ServerURL+"/"), chromedp.WaitVisible("#buy", chromedp.ByQuery))
	s.b.waitFor(t, "the purchases after a reload", rowText(s.retriedID), nil)
	var field string
	s.b.eval(t, `document.getElementById("apikey").value`, &field)
	if field != apiKey {
		t.Errorf("API key after a reload: got %q, want it kept", field)
	}
}

// newTabAsksForTheKey opens the page in a new tab, 375 px wide: the user is
// remembered but the key is not, so the purchases are refused and the key
// field says why, without taking the focus. Nothing scrolls sideways.
func (s *keySession) newTabAsksForTheKey(t *testing.T) {
	ctx, cancel := chromedp.NewContext(s.b.ctx)
	defer cancel()
	tab := &browser{ctx: ctx}
	chromedp.ListenTarget(ctx, tab.onEvent)
	tab.run(t, chromedp.EmulateViewport(375, 800, chromedp.EmulateMobile),
		chromedp.Navigate(s.shop.ServerURL+"/"), chromedp.WaitVisible("#buy", chromedp.ByQuery))
	tab.waitFor(t, "the refused key", fmt.Sprintf(`document.getElementById("apikey-error").textContent === %s`, js(keyRefused)), nil)
	var got struct {
		Username, Key, Invalid, Focused, Status string
		Width                                   int
	}
	tab.eval(t, `({username: document.getElementById("username").value, key: document.getElementById("apikey").value,
		invalid: document.getElementById("apikey").getAttribute("aria-invalid"), focused: document.activeElement.id,
		status: document.getElementById("buys-status").textContent, width: document.scrollingElement.scrollWidth})`, &got)
	if got.Username != keyBuyer || got.Key != "" {
		t.Errorf("new tab: got user %q and key %q, want %q and no key", got.Username, got.Key, keyBuyer)
	}
	if got.Invalid != "true" || got.Focused == "apikey" {
		t.Errorf("key field: got aria-invalid=%q focus=#%s, want true and the focus left alone", got.Invalid, got.Focused)
	}
	if want := "The shop needs an API key or a sign-in token to show the purchases."; got.Status != want {
		t.Errorf("purchases: got %q, want %q", got.Status, want)
	}
	if got.Width > 375 {
		t.Errorf("scrollWidth at 375 px: got %d, want <= 375", got.Width)
	}
	tab.screenshot(t, "phone-api-key.png")
	expectNoProblems(t, tab)
}

// forgetsTheKey chooses "Forget key": the field and the tab's storage are empty.
func (s *keySession) forgetsTheKey(t *testing.T) {
	s.b.run(t, chromedp.Click("#forget-key", chromedp.ByQuery))
	var got struct {
		Field, Focused string
		Stored         *string
		Hidden         bool
	}
	s.b.eval(t, `({field: document.getElementById("apikey").value, stored: sessionStorage.getItem("shop.apikey"),
		focused: document.activeElement.id, hidden: document.getElementById("forget-key").hidden})`, &got)
	if got.Field != "" || got.Stored != nil || got.Focused != "apikey" || !got.Hidden {
		t.Errorf("after Forget key: got %+v, want an empty, focused field, nothing stored, the button hidden", got)
	}
}

// storedTheAcceptedPurchases checks that the shop stored the two accepted
// purchases and neither the refused one nor the one turned away.
func (s *keySession) storedTheAcceptedPurchases(t *testing.T) {
	want := map[string]string{s.firstID: "19.99", s.retriedID: "5.00"}
	harness.Eventually(t, waitTimeout, func() string {
		code, stored := userBuys(t, s.shop, keyBuyer, apiKey)
		if code != http.StatusOK || len(stored) != len(want) {
			return fmt.Sprintf("got %d %+v, want 200 and %d purchases", code, stored, len(want))
		}
		for _, p := range stored {
			if want[p.ID] != p.Price {
				return fmt.Sprintf("purchase %s: got price %s, want %s", p.ID, p.Price, want[p.ID])
			}
		}
		return ""
	})
}

// expectNoProblems checks that nothing failed in b's page, CSP violations included.
func expectNoProblems(t *testing.T, b *browser) {
	t.Helper()
	if problems := b.consoleProblems(t); len(problems) > 0 {
		t.Errorf("got %d problems, want none:\n%s", len(problems), strings.Join(problems, "\n"))
	}
}

// userBuys asks the shop for up to 100 of username's purchases, sending
// "Authorization: Bearer key" unless key is "" (the harness sends no key).
func userBuys(t *testing.T, shop *harness.Shop, username, key string) (int, []harness.Purchase) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, shop.ServerURL+"/getAllUserBuys/"+url.PathEscape(username)+"?limit=100", nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := (&http.Client{Timeout: waitTimeout}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", req.URL, err)
	}
	defer resp.Body.Close()
	var page harness.UserBuys
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
			t.Fatalf("GET %s: %v", req.URL, err)
		}
	}
	return resp.StatusCode, page.Purchases
}
