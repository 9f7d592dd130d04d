package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/auth"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

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

type (
	callerKey struct{}
	// clientKey is the context key of the client's identity for rate limiting.
	clientKey struct{}
)

// failureBudget is the budget of failed authentications per client
// address (AUTH_FAILURE_LIMIT): checked before authentication runs, so a
// client that has used it up is refused with 429 without its credential
// being looked at, and spent by each 401. A nil limiter: no budget.
type failureBudget struct {
	limiter  *limiter
	clientOf func(*http.Request) string
}

// authenticate answers 401 unless the request carries a valid API key or,
// when shoppers are configured, a valid token; 503 when the token cannot be
// checked because the issuer's keys are unavailable; 429 when the client's
// address has no failures left. With neither keys nor shoppers configured,
// everything passes (make run).
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
// API key may act for anyone, a shopper for themselves, and, when
// staffMay, support staff for anyone. Without authentication, anyone may.
func authorize(r *http.Request, username string, staffMay bool) error {
	c, ok := r.Context().Value(callerKey{}).(caller)
	if !ok || c.service || (c.username != "" && c.username == username) || (staffMay && c.admin) {
		return nil
	}
	return &server.Problem{Status: http.StatusForbidden,
		Message: "this token is not " + strconv.Quote(username) + "'s: a shopper may act only for themselves"}
}
