package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/auth"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// apiKeys are the bearer keys of service clients, which may act for any
// user. Only their SHA-256 digests are kept, and a check compares against
// all of them in constant time, so neither a key nor its length leaks.
type apiKeys struct {
	digests [][sha256.Size]byte
}

// loadAPIKeys reads keys from API_KEYS (comma-separated) and API_KEYS_FILE
// (one per line, # comments; a mounted Secret). No keys: authentication off.
func loadAPIKeys(list []string, file string) (apiKeys, error) {
	keys := append([]string(nil), list...)
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return apiKeys{}, fmt.Errorf("read API_KEYS_FILE: %w", err)
		}
		for line := range strings.Lines(string(b)) {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				keys = append(keys, line)
			}
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

// shoppers verifies shoppers' OpenID Connect tokens (AUTH_*); a nil
// Verifier means no user authentication.
type shoppers struct {
	Verifier      *auth.Verifier
	UsernameClaim string // AUTH_USERNAME_CLAIM: required with an issuer
	AdminClaim    string // AUTH_ADMIN_CLAIM
	AdminValue    string // AUTH_ADMIN_VALUE
}

// caller is who made a request, once authenticated.
type caller struct {
	service  bool   // an API key: may act for any user
	username string // a shopper's username claim
	admin    bool   // a shopper marked as support staff
}

// Context keys of the caller and of its name for rate limiting.
type (
	callerKey struct{}
	clientKey struct{}
)

// failureBudget limits failed authentications per client address
// (AUTH_FAILURE_LIMIT). A nil limiter: no budget.
type failureBudget struct {
	limiter  *limiter
	clientOf func(*http.Request) string
}

// authenticate answers 401 unless the request carries a valid API key or,
// when shoppers are configured, a valid token; 503 when the issuer's keys
// are unavailable. An address whose failure budget is spent gets 429 before
// its credential is looked at; each 401 spends from it. With neither keys
// nor shoppers configured, everything passes (make run).
func authenticate(log *slog.Logger, keys apiKeys, users shoppers, failures failureBudget, next http.Handler) http.Handler {
	if !keys.enabled() && users.Verifier == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := ""
		if failures.limiter != nil {
			client = failures.clientOf(r)
			if empty, wait := failures.limiter.empty(client, time.Now()); empty {
				tooMany(w, r, log, "failed authentications from this address", wait)
				return
			}
		}
		refuse := func(msg, reason string) {
			if failures.limiter != nil {
				failures.limiter.allow(client, time.Now()) // spends a token, if one is left
			}
			unauthorized(w, r, log, msg, reason)
		}
		token, bearer := auth.BearerToken(r.Header)
		if id, ok := keys.match(token); bearer && keys.enabled() && ok {
			next.ServeHTTP(w, withCaller(r, caller{service: true}, "key-"+strconv.Itoa(id)))
			return
		}
		if users.Verifier == nil {
			refuse("missing or invalid API key: send Authorization: Bearer <key>", "")
			return
		}
		if !bearer {
			refuse("missing bearer token: send Authorization: Bearer <token>", "")
			return
		}
		c, err := users.identify(r.Context(), token)
		var invalid *auth.InvalidError
		switch {
		case errors.As(err, &invalid):
			log.Debug("token refused", "reason", invalid.Reason, "err", invalid.Err)
			refuse(invalid.Error(), invalid.Reason)
		case err != nil:
			server.Fail(w, r, log, &server.Problem{Status: http.StatusServiceUnavailable,
				Message: "the token cannot be checked now: the identity provider's keys are unavailable", RetryAfter: 5 * time.Second, Err: err})
		default:
			next.ServeHTTP(w, withCaller(r, c, "user-"+c.username))
		}
	})
}

// identify verifies token and reads the caller from its claims.
func (u shoppers) identify(ctx context.Context, token string) (caller, error) {
	tok, err := u.Verifier.Verify(ctx, token)
	if err != nil {
		return caller{}, err
	}
	return caller{username: tok.String(u.UsernameClaim),
		admin: u.AdminClaim != "" && tok.Has(u.AdminClaim, u.AdminValue)}, nil
}

func withCaller(r *http.Request, c caller, client string) *http.Request {
	ctx := context.WithValue(r.Context(), callerKey{}, c)
	return r.WithContext(context.WithValue(ctx, clientKey{}, client))
}

// identityOf names the authenticated caller (its API key or username), or
// "" before or without authentication.
func identityOf(r *http.Request) string {
	id, _ := r.Context().Value(clientKey{}).(string)
	return id
}

// unauthorized answers 401 with the RFC 6750 challenge; reason, when
// given, says what was wrong with the token (never the token itself).
func unauthorized(w http.ResponseWriter, r *http.Request, log *slog.Logger, msg, reason string) {
	challenge := `Bearer realm="scalable-shop"`
	if reason != "" {
		challenge += `, error="invalid_token", error_description="` + strings.ReplaceAll(reason, `"`, "'") + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	server.Fail(w, r, log, &server.Problem{Status: http.StatusUnauthorized, Message: msg})
}

// authorize answers whether the request's caller may act for username: an
// API key for anyone, a shopper for themselves, support staff for anyone
// when staffMay. Without authentication, anyone may.
func authorize(r *http.Request, username string, staffMay bool) error {
	c, ok := r.Context().Value(callerKey{}).(caller)
	if !ok || c.service || (c.username != "" && c.username == username) || (staffMay && c.admin) {
		return nil
	}
	return &server.Problem{Status: http.StatusForbidden,
		Message: "this token is not " + strconv.Quote(username) + "'s: a shopper may act only for themselves"}
}
