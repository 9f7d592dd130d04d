package browser

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/scalable-shop/scalable-shop/functions/apitest/authtest"
	"github.com/scalable-shop/scalable-shop/test/harness"
)

const (
	tokenBuyer  = "Ada Lovelace"
	tokenUserID = "1815"
	otherBuyer  = "Charles Babbage"
)

// TestShopUIWithToken runs the page against a shop whose shoppers sign in
// with OpenID Connect tokens from an in-test issuer: the page sends the
// token the shopper enters (keeping it for the tab only), shows a refused
// token's reason at the token field and a token that is not this user's at
// the username. The steps run in order on one page.
func TestShopUIWithToken(t *testing.T) {
	brokers := harness.Integration(t)
	chrome := chromePath(t)
	iss := authtest.NewIssuer(t, "scalable-shop")
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", map[string]string{"API_KEYS": apiKey, "AUTH_ISSUER_URL": iss.URL, "AUTH_AUDIENCE": iss.Audience,
		"AUTH_USERNAME_CLAIM": "preferred_username"}) // the in-test issuer's usernames; a real provider's: docs/security.md
	s := &tokenSession{shop: shop, b: newBrowser(t, chrome), token: iss.Token(t, tokenBuyer, nil)}
	for _, step := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"expired_token_shows_the_reason_at_the_token_field", func(t *testing.T) { s.refusesAnExpiredToken(t, iss.Expired(t, tokenBuyer)) }},
		{"buy_with_the_token_is_accepted", s.buysWithTheToken},
		{"buy_for_another_user_shows_the_403_at_the_username", s.refusesAnotherUser},
		{"getAllUserBuys_of_another_user_is_refused", s.refusesAnotherUsersList},
		{"getAllUserBuys_of_the_tokens_user_lists_the_purchase", s.listsOwnPurchases},
		{"token_is_kept_in_sessionStorage_only", s.keepsTheTokenForTheTab},
		{"no_console_errors_or_csp_violations", func(t *testing.T) { expectNoProblems(t, s.b) }},
	} {
		t.Run(step.name, step.run)
	}
}

// tokenSession is the state the steps of TestShopUIWithToken share.
type tokenSession struct {
	shop   *harness.Shop
	b      *browser
	token  string // tokenBuyer's
	bought string // the purchase id
}

// refusesAnExpiredToken buys with an expired token: the 401's reason shows
// at the token field, the token went as the bearer, and nothing is bought.
func (s *tokenSession) refusesAnExpiredToken(t *testing.T, expired string) {
	s.b.run(t, chromedp.Navigate(s.shop.ServerURL+"/"), chromedp.WaitVisible("#token", chromedp.ByQuery))
	s.b.expectSecretField(t, "token")
	s.b.typeInto(t, "username", tokenBuyer)
	s.b.typeInto(t, "userid", tokenUserID)
	s.b.typeInto(t, "price", "12.50")
	s.b.typeInto(t, "token", expired)
	s.b.run(t, chromedp.Click("#buy", chromedp.ByQuery))
	s.b.expectFieldError(t, "token", "Invalid token: expired.")
	if sent := s.b.sentBuys(); len(sent) != 1 || sent[0].Auth != "Bearer "+expired {
		t.Errorf("requests: got %+v, want one with the expired token as bearer", sent)
	}
	if code, stored := userBuys(t, s.shop, tokenBuyer, apiKey); code != http.StatusOK || len(stored) != 0 {
		t.Errorf("stored after a 401: got %d %+v, want 200 and nothing", code, stored)
	}
}

// buysWithTheToken enters the user's token: the purchase is accepted, sent
// with "Authorization: Bearer <token>".
func (s *tokenSession) buysWithTheToken(t *testing.T) {
	s.b.typeInto(t, "token", s.token)
	s.b.run(t, chromedp.Click("#buy", chromedp.ByQuery))
	s.b.waitFor(t, "the purchase id", `document.getElementById("purchase-id")?.textContent`, &s.bought)
	sent := s.b.sentBuys()
	if last := sent[len(sent)-1]; last.Auth != "Bearer "+s.token {
		t.Errorf("Authorization: got %q, want the token", last.Auth)
	}
}

// refusesAnotherUser buys as another user with the same token: the 403 shows
// at the username field and nothing is bought for them.
func (s *tokenSession) refusesAnotherUser(t *testing.T) {
	s.b.typeInto(t, "username", otherBuyer)
	s.b.typeInto(t, "price", "1.00")
	s.b.run(t, chromedp.Click("#buy", chromedp.ByQuery))
	s.b.expectFieldError(t, "username", "a shopper may act only for themselves")
	if code, stored := userBuys(t, s.shop, otherBuyer, apiKey); code != http.StatusOK || len(stored) != 0 {
		t.Errorf("stored for %s: got %d %+v, want nothing", otherBuyer, code, stored)
	}
}

// refusesAnotherUsersList asks for the other user's purchases: refused, and
// the purchases panel says why.
func (s *tokenSession) refusesAnotherUsersList(t *testing.T) {
	s.b.run(t, chromedp.Click("#list", chromedp.ByQuery))
	want := fmt.Sprintf("This sign-in token may not see the purchases of %s.", otherBuyer)
	s.b.waitFor(t, "the refusal", fmt.Sprintf(`document.getElementById("buys-status").textContent === %s`, js(want)), nil)
	s.b.expectFieldError(t, "username", "a shopper may act only for themselves")
}

// listsOwnPurchases goes back to the token's user: the purchase is listed.
func (s *tokenSession) listsOwnPurchases(t *testing.T) {
	s.b.typeInto(t, "username", tokenBuyer)
	s.b.run(t, chromedp.Click("#list", chromedp.ByQuery))
	s.b.waitFor(t, "the row of "+s.bought, rowText(s.bought), nil)
}

// keepsTheTokenForTheTab: the token is in sessionStorage, nowhere in
// localStorage, and a reload (the same tab) still has it.
func (s *tokenSession) keepsTheTokenForTheTab(t *testing.T) {
	var session string
	var local bool
	s.b.eval(t, `sessionStorage.getItem("shop.token")`, &session)
	s.b.eval(t, fmt.Sprintf(`Object.keys(localStorage).some((k) => (k + localStorage.getItem(k)).includes(%s))`, js(s.token)), &local)
	if session != s.token || local {
		t.Errorf("token: got sessionStorage %q and in localStorage %v, want the token and false", session, local)
	}
	s.b.run(t, chromedp.Navigate(s.shop.ServerURL+"/"), chromedp.WaitVisible("#buy", chromedp.ByQuery))
	s.b.waitFor(t, "the purchases after a reload", rowText(s.bought), nil)
	var field string
	s.b.eval(t, `document.getElementById("token").value`, &field)
	if field != s.token {
		t.Error("token after a reload: got it gone, want it kept")
	}
}
