package browser

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/chromedp/cdproto/runtime"
)

// What the shop's page shows, read through JavaScript.

// expectFieldError waits for the field's error and checks that it is an
// alert, the field is marked invalid and has the focus.
func (b *browser) expectFieldError(t *testing.T, field, want string) {
	t.Helper()
	var got struct {
		Text, Role, Invalid, Focused string
	}
	b.waitFor(t, field+" error "+want, fmt.Sprintf(`(() => {
		const err = document.getElementById(%[1]s + "-error"), input = document.getElementById(%[1]s);
		return err.textContent.includes(%[2]s) && {text: err.textContent, role: err.getAttribute("role"),
			invalid: input.getAttribute("aria-invalid"), focused: document.activeElement.id};
	})()`, js(field), js(want)), &got)
	if got.Role != "alert" || got.Invalid != "true" || got.Focused != field {
		t.Errorf("%s error %q: got role=%q aria-invalid=%q focus=#%s, want alert, true, #%s",
			field, got.Text, got.Role, got.Invalid, got.Focused, field)
	}
}

// expectSecretField checks that the input with id hides what is typed and
// is not offered to the browser's autofill.
func (b *browser) expectSecretField(t *testing.T, id string) {
	t.Helper()
	var attrs struct{ Type, Autocomplete string }
	b.eval(t, fmt.Sprintf(`(() => { const f = document.getElementById(%s); return {type: f.type, autocomplete: f.autocomplete}; })()`, js(id)), &attrs)
	if attrs.Type != "password" || attrs.Autocomplete != "off" {
		t.Errorf("#%s: got type=%s autocomplete=%s, want password, off", id, attrs.Type, attrs.Autocomplete)
	}
}

// expectPage waits for the pager's label and checks the number of rows.
func (b *browser) expectPage(t *testing.T, label string, rows int) {
	t.Helper()
	b.waitFor(t, label, fmt.Sprintf(`document.getElementById("page-label").textContent === %s`, js(label)), nil)
	var got int
	b.eval(t, `document.querySelectorAll("#buys-rows tr").length`, &got)
	if got != rows {
		t.Errorf("%s: got %d rows, want %d", label, got, rows)
	}
}

// rowText is a JavaScript expression: the text of the row of purchase id, or null.
func rowText(id string) string {
	return fmt.Sprintf(`document.querySelector('#buys-rows tr[data-id="' + CSS.escape(%s) + '"]')?.innerText ?? null`, js(id))
}

// awaitPromise makes chromedp.Evaluate wait for the expression's promise.
func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// jsArray writes ss as a JavaScript array literal.
func jsArray(ss []string) string {
	b, _ := json.Marshal(ss)
	return string(b)
}
