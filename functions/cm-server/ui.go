package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// webFiles is the shopper's page: plain HTML, CSS and ES modules.
//
//go:embed web
var webFiles embed.FS

// contentSecurityPolicy lets the page load its own files and nothing else:
// no inline code, no other origins, no framing, and DOM sinks such as
// innerHTML refuse strings (the UI builds nodes instead).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// pageHeaders are set on every UI response, including its 404s.
var pageHeaders = map[string]string{
	"Content-Security-Policy":      contentSecurityPolicy,
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "no-referrer",
	"X-Frame-Options":              "DENY",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Permissions-Policy":           "camera=(), microphone=(), geolocation=(), payment=(), usb=(), browsing-topics=()",
}

// assetTypes are the only kinds of file the UI serves, by extension.
var assetTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// asset is one embedded file, ready to serve.
type asset struct {
	name        string
	contentType string
	etag        string
	body        []byte
}

// loadAssets reads the files of one embedded folder; the tree is fixed at
// build time, so the unit tests catch any error here.
func loadAssets(dir string) map[string]asset {
	entries, _ := fs.ReadDir(webFiles, dir)
	assets := make(map[string]asset, len(entries))
	for _, e := range entries {
		ctype, ok := assetTypes[path.Ext(e.Name())]
		if e.IsDir() || !ok {
			continue
		}
		body, _ := fs.ReadFile(webFiles, dir+"/"+e.Name())
		sum := sha256.Sum256(body)
		assets[e.Name()] = asset{e.Name(), ctype, `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`, body}
	}
	return assets
}

// serve writes a, or 304 when the browser's copy is current. File names
// carry no version, so browsers revalidate each time (no-cache).
func (a asset) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("ETag", a.etag)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}

// withPageHeaders adds the security headers of the UI to h's responses.
func withPageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range pageHeaders {
			w.Header().Set(k, v)
		}
		h.ServeHTTP(w, r)
	})
}

// handleUI serves the page itself.
func handleUI() http.Handler {
	page := loadAssets("web")["index.html"]
	return withPageHeaders(http.HandlerFunc(page.serve))
}

// handleUIAsset serves the page's scripts, styles and icon by file name.
func handleUIAsset(log *slog.Logger) http.Handler {
	assets := loadAssets("web/assets")
	return withPageHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.PathValue("name")]
		if !ok {
			server.Fail(w, r, log, &server.Problem{Status: http.StatusNotFound, Message: "no such file in the UI"})
			return
		}
		a.serve(w, r)
	}))
}
