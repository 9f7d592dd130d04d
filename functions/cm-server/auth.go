package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// apiKeys are the bearer keys that may call /buy and /getAllUserBuys. Only
// their SHA-256 digests are kept, and every check compares against all of
// them in constant time, so neither a key nor its length leaks by timing.
type apiKeys struct {
	digests [][sha256.Size]byte
}

// loadAPIKeys reads keys from API_KEYS (comma-separated) and API_KEYS_FILE
// (one per line, # comments; a mounted Secret). No keys: authentication off.
func loadAPIKeys(list []string, file string) (apiKeys, error) {
	keys := append([]string(nil), list...)
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return apiKeys{}, fmt.Errorf("read API_KEYS_FILE: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
				keys = append(keys, line)
			}
		}
		if err := sc.Err(); err != nil {
			return apiKeys{}, fmt.Errorf("read API_KEYS_FILE: %w", err)
		}
	}
	var k apiKeys
	for _, key := range keys {
		if len(key) < 16 {
			return apiKeys{}, fmt.Errorf("an API key is shorter than 16 characters")
		}
		k.digests = append(k.digests, sha256.Sum256([]byte(key)))
	}
	return k, nil
}

func (k apiKeys) enabled() bool { return len(k.digests) > 0 }

// match returns the index of the key that token is, comparing with all.
func (k apiKeys) match(token string) (int, bool) {
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range k.digests {
		if subtle.ConstantTimeCompare(d[:], k.digests[i][:]) == 1 {
			found = i
		}
	}
	return found, found >= 0
}

// clientKey is the context key of the authenticated client's identity.
type clientKey struct{}

// requireAPIKey answers 401 unless the request carries a valid
// "Authorization: Bearer <key>"; it records which key, for rate limiting.
func requireAPIKey(log *slog.Logger, keys apiKeys, next http.Handler) http.Handler {
	if !keys.enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		id, ok := keys.match(strings.TrimSpace(token))
		if !strings.EqualFold(scheme, "Bearer") || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="scalable-shop"`)
			server.Fail(w, r, log, &server.Problem{Status: http.StatusUnauthorized,
				Message: "missing or invalid API key: send Authorization: Bearer <key>"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, "key-"+strconv.Itoa(id))))
	})
}
