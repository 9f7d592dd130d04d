// Package authtest is an OpenID Connect issuer for tests: a discovery
// document and a JWKS with an RSA and an EC key, served on 127.0.0.1, that
// signs good tokens and every kind of bad one (expired, wrong audience,
// alg none, HMAC with the public key, a key not in the set, a key id it never
// published), rotates its keys, can throttle its JWKS and can go down.
package authtest

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Issuer is a running test issuer. URL is its issuer URL and base.
type Issuer struct {
	URL      string
	Audience string
	srv      *httptest.Server

	mu        sync.Mutex
	rsa, ec   *key // the keys that sign RS256 and ES256 tokens
	served    []*key
	fetches   int
	throttled bool
	jwksURI   string // what discovery names; "" = URL + "/keys"
}

type key struct {
	id     string
	alg    jose.SignatureAlgorithm
	signer crypto.Signer
}

// Claims are a token's claims; Token fills in what is missing.
type Claims map[string]any

// NewIssuer starts an issuer whose tokens are for audience; it stops with t.
func NewIssuer(t testing.TB, audience string) *Issuer {
	t.Helper()
	i := &Issuer{Audience: audience, rsa: newKey(t, jose.RS256, "rsa-1"), ec: newKey(t, jose.ES256, "ec-1")}
	i.served = []*key{i.rsa, i.ec}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		i.mu.Lock()
		jwks := cmp.Or(i.jwksURI, i.URL+"/keys")
		i.mu.Unlock()
		writeJSON(w, map[string]any{"issuer": i.URL, "jwks_uri": jwks,
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"}})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		i.mu.Lock()
		defer i.mu.Unlock()
		i.fetches++
		if i.throttled {
			w.Header().Set("Retry-After", "60")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		var set jose.JSONWebKeySet
		for _, k := range i.served {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.signer.Public(), KeyID: k.id, Algorithm: string(k.alg), Use: "sig"})
		}
		writeJSON(w, set)
	})
	// httptest listens on 127.0.0.1 only.
	i.srv = httptest.NewServer(mux)
	i.URL = i.srv.URL
	t.Cleanup(i.srv.Close)
	return i
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func newKey(t testing.TB, alg jose.SignatureAlgorithm, id string) *key {
	t.Helper()
	var (
		s   crypto.Signer
		err error
	)
	if alg == jose.ES256 {
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &key{id: id, alg: alg, signer: s}
}

// Stop shuts the issuer down: discovery and JWKS stop answering.
func (i *Issuer) Stop() { i.srv.Close() }

// Throttle makes the JWKS answer 429 Too Many Requests (on) or the keys
// again (off), as an identity provider does to a client that asks too often.
// Discovery keeps answering.
func (i *Issuer) Throttle(on bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.throttled = on
}

// NameJWKSURI makes the discovery document name uri as its jwks_uri while
// the keys stay at URL + "/keys", as the Kubernetes API server names its
// advertise address but serves its keys at /openid/v1/jwks itself.
func (i *Issuer) NameJWKSURI(uri string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.jwksURI = uri
}

// KeyFetches counts the JWKS requests served, throttled ones included.
func (i *Issuer) KeyFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.fetches
}

// Rotate replaces the RSA key with a new one: the JWKS no longer lists the
// old key, and RS256 tokens are signed with the new one.
func (i *Issuer) Rotate(t testing.TB, newID string) {
	t.Helper()
	k := newKey(t, jose.RS256, newID)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rsa = k
	i.served = []*key{k, i.ec}
}

// Token returns an RS256 token for username with claims on top of good
// defaults (this issuer, its audience, valid for five minutes).
func (i *Issuer) Token(t testing.TB, username string, claims Claims) string {
	t.Helper()
	i.mu.Lock()
	k := i.rsa
	i.mu.Unlock()
	return sign(t, k, i.claims(username, claims))
}

// ES256 is Token signed with the EC key.
func (i *Issuer) ES256(t testing.TB, username string, claims Claims) string {
	t.Helper()
	return sign(t, i.ec, i.claims(username, claims))
}

// Expired is a token that expired ten minutes ago.
func (i *Issuer) Expired(t testing.TB, username string) string {
	t.Helper()
	return i.Token(t, username, Claims{"exp": time.Now().Add(-10 * time.Minute).Unix()})
}

// Foreign is a token signed by an RSA key the issuer never published,
// though its header names the issuer's current RSA key id.
func (i *Issuer) Foreign(t testing.TB, username string) string {
	t.Helper()
	i.mu.Lock()
	id := i.rsa.id
	i.mu.Unlock()
	return sign(t, newKey(t, jose.RS256, id), i.claims(username, nil))
}

// Forged is a token signed by a new EC key the issuer never published,
// whose header names kid: each new kid is one a key cache has not seen.
func (i *Issuer) Forged(t testing.TB, username, kid string) string {
	t.Helper()
	return sign(t, newKey(t, jose.ES256, kid), i.claims(username, nil))
}

// None is an unsigned token (alg "none"), as an attacker would write it.
func (i *Issuer) None(t testing.TB, username string) string {
	t.Helper()
	return segment(t, map[string]string{"alg": "none", "typ": "JWT"}) + "." + segment(t, i.claims(username, nil)) + "."
}

// HMAC is a token "signed" with HS256 using the RSA public key (PEM) as the
// shared secret: the algorithm-confusion attack.
func (i *Issuer) HMAC(t testing.TB, username string) string {
	t.Helper()
	i.mu.Lock()
	k := i.rsa
	i.mu.Unlock()
	der, err := x509.MarshalPKIXPublicKey(k.signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return signWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: secret}, k.id, i.claims(username, nil))
}

func (i *Issuer) claims(username string, extra Claims) Claims {
	now := time.Now()
	c := Claims{"iss": i.URL, "aud": i.Audience, "sub": "user-" + username, "preferred_username": username,
		"iat": now.Unix(), "nbf": now.Add(-time.Second).Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func sign(t testing.TB, k *key, c Claims) string {
	t.Helper()
	return signWith(t, jose.SigningKey{Algorithm: k.alg, Key: k.signer}, k.id, c)
}

func signWith(t testing.TB, sk jose.SigningKey, kid string, c Claims) string {
	t.Helper()
	signer, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func segment(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
