package main

import (
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
)

func TestUIResponses(t *testing.T) {
	t.Parallel()
	h := newTestServer(t, &fakeSender{}, "http://127.0.0.1:1", time.Second)
	tests := []struct {
		name, method, target string
		wantStatus           int
		wantType             string
	}{
		{"ui_200_html", "GET", "/", http.StatusOK, "text/html; charset=utf-8"},
		{"ui_200_head", "HEAD", "/", http.StatusOK, "text/html; charset=utf-8"},
		{"asset_200_js", "GET", "/assets/app.js", http.StatusOK, "text/javascript; charset=utf-8"},
		{"asset_200_css", "GET", "/assets/app.css", http.StatusOK, "text/css; charset=utf-8"},
		{"asset_200_svg", "GET", "/assets/icon.svg", http.StatusOK, "image/svg+xml"},
		{"asset_404_json", "GET", "/assets/nope.js", http.StatusNotFound, "application/json"},
		{"asset_404_index_is_not_an_asset", "GET", "/assets/index.html", http.StatusNotFound, "application/json"},
		{"asset_404_traversal", "GET", "/assets/..%2Fui.go", http.StatusNotFound, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := apitest.Do(h, tt.method, tt.target, "", nil)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type: got %q, want %q", got, tt.wantType)
			}
			for k, want := range pageHeaders {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			if tt.wantStatus == http.StatusOK && rec.Header().Get("ETag") == "" {
				t.Error("ETag: got none, want one so that browsers revalidate cheaply")
			}
		})
	}
}

func TestUIContentSecurityPolicy(t *testing.T) {
	t.Parallel()
	for _, directive := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'",
		"connect-src 'self'", "form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(contentSecurityPolicy+";", directive+";") {
			t.Errorf("CSP %q: want %q", contentSecurityPolicy, directive)
		}
	}
	if strings.Contains(contentSecurityPolicy, "unsafe") {
		t.Errorf("CSP %q: want no unsafe-* source", contentSecurityPolicy)
	}
}

func TestUIRevalidates(t *testing.T) {
	t.Parallel()
	h := newTestServer(t, &fakeSender{}, "http://127.0.0.1:1", time.Second)
	for _, target := range []string{"/", "/assets/app.js"} {
		etag := apitest.Do(h, "GET", target, "", nil).Header().Get("ETag")
		rec := apitest.Do(h, "GET", target, "", map[string]string{"If-None-Match": etag})
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("%s with If-None-Match %s: got %d and %d bytes, want 304 and none", target, etag, rec.Code, rec.Body.Len())
		}
	}
}

var (
	pageRef   = regexp.MustCompile(`(?:src|href)="(/[^"]*)"`)
	moduleRef = regexp.MustCompile(`(?m)^import .* from "\./([^"]+)";$`)
	// inlineCode: style elements or attributes, scripts without src, event handler attributes.
	inlineCode = regexp.MustCompile(`<style|\sstyle=|<script>|<script [^>]*>[^<]|\son[a-z]+=`)
)

// TestUIReferencesResolve checks that every file the page and its modules
// ask for is served, and that the page has no inline code the CSP would block.
func TestUIReferencesResolve(t *testing.T) {
	t.Parallel()
	h := newTestServer(t, &fakeSender{}, "http://127.0.0.1:1", time.Second)
	page := apitest.Do(h, "GET", "/", "", nil).Body.String()
	if m := inlineCode.FindString(page); m != "" {
		t.Errorf("index.html has inline code %q; the CSP blocks it", m)
	}
	refs := map[string]bool{}
	for _, m := range pageRef.FindAllStringSubmatch(page, -1) {
		refs[m[1]] = true
	}
	scripts, _ := fs.Glob(webFiles, "web/assets/*.js")
	if len(scripts) == 0 {
		t.Fatal("no scripts embedded under web/assets")
	}
	for _, name := range scripts {
		src, _ := fs.ReadFile(webFiles, name)
		for _, m := range moduleRef.FindAllStringSubmatch(string(src), -1) {
			refs["/assets/"+m[1]] = true
		}
	}
	for ref := range refs {
		if rec := apitest.Do(h, "GET", ref, "", nil); rec.Code != http.StatusOK {
			t.Errorf("GET %s (referenced by the UI): got %d, want 200", ref, rec.Code)
		}
	}
	if !refs["/assets/purchases.js"] || !refs["/assets/app.js"] {
		t.Errorf("references: got %v, want the page's script and its imports", refs)
	}
}
