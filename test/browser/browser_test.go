// Package browser tests the shop's web UI in a real headless Chromium,
// driven over the DevTools protocol (chromedp), against the running stack:
// cm-server and cm-api as processes, a real Kafka broker and a MongoDB
// wire-protocol store.
package browser

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the test runs the page in Europe/Berlin, also where no zoneinfo is installed

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// budget bounds everything the browser does in one test.
const budget = 60 * time.Second

// waitTimeout bounds one wait for the page to reach a state.
const waitTimeout = 10 * time.Second

// chromePath finds Chromium: $CHROME_PATH, else chromium on PATH. Without
// one the test fails (it is skipped only under -short, before this runs).
func chromePath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME_PATH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CHROME_PATH=%s: %v", p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium not found: install Debian's chromium package (apt-get install chromium; .ci/run does) " +
		"or set CHROME_PATH to a Chromium or Chrome binary; use -short to skip browser tests")
	return ""
}

// buyRequest is one POST /buy the page sent.
type buyRequest struct {
	Body string
	Key  string // Idempotency-Key
	Auth string // Authorization
}

// browser is one headless Chromium with one tab. It sees every POST /buy
// the page sends (and can rewrite the next one) and collects what would show
// up as an error in the browser's console.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	buys     []buyRequest
	rewrite  func(body string) string
	failNext bool
	problems []string
}

// violationRecorder runs before the page's own scripts (DevTools-injected
// scripts are exempt from the page's CSP) and records CSP violations.
const violationRecorder = `window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber));`

func newBrowser(t *testing.T, chrome string) *browser {
	t.Helper()
	// Not t.TempDir: Chromium's helper processes may still write to the
	// profile for a moment after the browser exits.
	profile, err := os.MkdirTemp("", "shop-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(profile), // a fresh profile: nothing remembered
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		_ = chromedp.Cancel(bctx) // closes the browser gracefully
		cancelBrowser()
		cancelAlloc() // waits for the browser process to exit
		cancel()
		removeProfile(t, profile)
	})
	b := &browser{ctx: bctx}
	chromedp.ListenTarget(bctx, b.onEvent)
	err = chromedp.Run(bctx,
		emulation.SetTimezoneOverride("Europe/Berlin"), // local time differs from UTC: the UI must convert
		emulation.SetLocaleOverride().WithLocale("en-US"),
		// Still pictures: no highlight fading in the middle of a screenshot.
		emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}}),
		fetch.Enable().WithPatterns([]*fetch.RequestPattern{{URLPattern: "*/buy", RequestStage: fetch.RequestStageRequest}}),
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(violationRecorder).Do(ctx)
			return err
		}),
	)
	if err != nil {
		t.Fatalf("start Chromium (%s): %v", chrome, err)
	}
	return b
}

// removeProfile removes Chromium's profile folder, retrying while the last
// helper processes let go of it.
func removeProfile(t *testing.T, dir string) {
	var err error
	for range 20 {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("remove Chromium profile %s: %v", dir, err)
}

func (b *browser) onEvent(ev any) {
	switch e := ev.(type) {
	case *fetch.EventRequestPaused:
		go b.continueBuy(e)
	case *runtime.EventExceptionThrown:
		b.problem("uncaught exception: " + e.ExceptionDetails.Error())
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.APITypeError {
			b.problem("console.error called")
		}
	case *cdplog.EventEntryAdded:
		// Failed requests are logged by source "network"; the API's 4xx the
		// test provokes on purpose are among them, and the UI shows them.
		if e.Entry.Level == cdplog.LevelError && e.Entry.Source != cdplog.SourceNetwork {
			b.problem(fmt.Sprintf("console %s error: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL))
		}
	}
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// continueBuy records a paused POST /buy and lets it go on, rewritten when
// the test asked for it.
func (b *browser) continueBuy(e *fetch.EventRequestPaused) {
	var body strings.Builder
	for _, entry := range e.Request.PostDataEntries {
		raw, _ := base64.StdEncoding.DecodeString(entry.Bytes)
		body.Write(raw)
	}
	b.mu.Lock()
	b.buys = append(b.buys, buyRequest{body.String(), header(e.Request.Headers, "Idempotency-Key"),
		header(e.Request.Headers, "Authorization")})
	rewrite, fail := b.rewrite, b.failNext
	b.rewrite, b.failNext = nil, false
	b.mu.Unlock()
	ctx := cdp.WithExecutor(b.ctx, chromedp.FromContext(b.ctx).Target)
	if fail {
		_ = fetch.FailRequest(e.RequestID, network.ErrorReasonConnectionFailed).Do(ctx)
		return
	}
	next := fetch.ContinueRequest(e.RequestID)
	if rewrite != nil {
		next = next.WithPostData(base64.StdEncoding.EncodeToString([]byte(rewrite(body.String()))))
	}
	_ = next.Do(ctx) // fails only when the browser is gone
}

// header returns the value of the named request header, "" when absent.
func header(h network.Headers, name string) string {
	for k, v := range h {
		if s, ok := v.(string); ok && strings.EqualFold(k, name) {
			return s
		}
	}
	return ""
}

// sentBuys returns the POST /buy requests the page sent so far.
func (b *browser) sentBuys() []buyRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]buyRequest(nil), b.buys...)
}

// rewriteNextBuy makes the next POST /buy carry f(body) instead of body.
func (b *browser) rewriteNextBuy(f func(string) string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rewrite = f
}

// failNextBuy makes the next POST /buy fail as if the network were down.
func (b *browser) failNextBuy() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failNext = true
}

// consoleProblems returns the errors and CSP violations seen so far.
func (b *browser) consoleProblems(t *testing.T) []string {
	t.Helper()
	var violations []string
	b.eval(t, `window.__violations || []`, &violations)
	b.mu.Lock()
	defer b.mu.Unlock()
	return append(append([]string(nil), b.problems...), violations...)
}

func (b *browser) run(t *testing.T, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression into res. DevTools evaluation is
// exempt from the CSP, unlike chromedp.Poll's new Function.
func (b *browser) eval(t *testing.T, expr string, res any) {
	t.Helper()
	b.run(t, chromedp.Evaluate(expr, res))
}

// waitFor evaluates expr until it is truthy and decodes that value into res
// (when not nil). It fails, naming what, after waitTimeout.
func (b *browser) waitFor(t *testing.T, what, expr string, res any) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		var raw []byte
		b.run(t, chromedp.Evaluate(expr, &raw))
		switch s := strings.TrimSpace(string(raw)); s {
		case "", "null", "false", "0", `""`, "undefined":
		default:
			if res != nil {
				if err := json.Unmarshal(raw, res); err != nil {
					t.Fatalf("%s: %s is not the expected value: %v", what, raw, err)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s (%s)", waitTimeout, what, expr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// typeInto replaces the value of the input with id by typing text.
func (b *browser) typeInto(t *testing.T, id, text string) {
	t.Helper()
	// chromedp.SetValue cannot set "": its empty argument arrives as undefined.
	b.run(t, chromedp.Evaluate(fmt.Sprintf(`document.getElementById(%s).value = ""`, js(id)), nil),
		chromedp.SendKeys("#"+id, text, chromedp.ByQuery))
}

// screenshot saves the whole page as name (a .png) in $SCREENSHOT_DIR, or in
// the test's temporary folder, and returns its path.
func (b *browser) screenshot(t *testing.T, name string) string {
	t.Helper()
	var png []byte
	b.run(t, chromedp.FullScreenshot(&png, 100))
	dir := os.Getenv("SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}
