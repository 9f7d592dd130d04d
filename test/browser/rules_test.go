package browser

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// rulesMatchTheServer checks that the page's rules (rules.js) and the
// server's agree, word for word, so that a shopper never sees one accept what
// the other refuses. An empty price is left out on purpose: the page calls it
// "is required", the server's JSON "" is a malformed price.
func (s *session) rulesMatchTheServer(t *testing.T) {
	for _, tt := range []struct {
		field  string
		inputs []string
	}{
		{"price", []string{"0", "0.5", "1195.30", "007.50", "999999999.99", "0000000000001.00", "1000000000",
			"-1", "-0", "1.005", "1.", ".5", "1,50", "1e3", " 1", "abc", "\uff11", "12.3.4"}},
		{"username", []string{"a", "Zoë O'Brien", strings.Repeat("é", 100), strings.Repeat("😀", 100), "\ufeffa",
			strings.Repeat("é", 101), " a", "a ", "a\u00a0", "a\tb", "a\u0007b", "\u0085a"}},
	} {
		var browserSays []string
		check := map[string]string{"price": "m.parsePrice(s).problem", "username": "m.checkText(s, m.MAX_USERNAME)"}[tt.field]
		s.b.run(t, chromedp.Evaluate(fmt.Sprintf(`import("/assets/rules.js").then((m) => %s.map((s) => %s || ""))`,
			jsArray(tt.inputs), check), &browserSays, awaitPromise))
		for i, in := range tt.inputs {
			p := map[string]string{"username": "rules-check", "userid": "1", "price": "1"}
			p[tt.field] = in
			body, _ := json.Marshal(p)
			status, resp, err := s.shop.Buy(string(body), nil)
			if err != nil {
				t.Fatal(err)
			}
			serverSays := resp.Errors[tt.field]
			if status != http.StatusAccepted && serverSays == "" {
				t.Errorf("%s %q: server answered %d %+v without a %s problem", tt.field, in, status, resp, tt.field)
			}
			if browserSays[i] != serverSays {
				t.Errorf("%s %q: browser says %q, server says %q", tt.field, in, browserSays[i], serverSays)
			}
		}
	}
}
