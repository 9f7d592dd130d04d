package browser

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestShopUISaysWhenTheHistoryIsSlow points cm-server at a cm-api that never
// answers: after cm-server's timeout the page says in words that the history
// is slow and to try again, not a status code, and leaves the form alone.
func TestShopUISaysWhenTheHistoryIsSlow(t *testing.T) {
	brokers := harness.Integration(t)
	chrome := chromePath(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartServer("", map[string]string{"CM_API_URL": harness.StallServer(t), "CM_API_TIMEOUT": "300ms"})
	b := newBrowser(t, chrome)
	b.run(t, chromedp.Navigate(shop.ServerURL+"/"), chromedp.WaitVisible("#list", chromedp.ByQuery))
	b.typeInto(t, "username", shopper)
	b.run(t, chromedp.Click("#list", chromedp.ByQuery))
	const want = "The purchase history is taking too long; try again."
	b.waitFor(t, "the slow-history message", fmt.Sprintf(`document.getElementById("buys-status").textContent === %s`, js(want)), nil)
	var formError string
	b.eval(t, `document.getElementById("form-error").textContent`, &formError)
	if formError != "" {
		t.Errorf("form error: got %q, want none (the form is fine)", formError)
	}
}
