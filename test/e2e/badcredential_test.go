package e2e

import (
	"testing"

	"github.com/scalable-shop/scalable-shop/functions/apitest/authtest"
)

// badCredentials are the rows of the bad-input table about credentials:
// shoppers' tokens on cm-server, the source's token on cm-api. auth names
// the credential sent (see credentials).
var badCredentials = []badRequest{
	{name: "buy_401_no_credential", path: "/buy", body: valid, header: jsonType, auth: "none", status: 401, message: "missing bearer token"},
	{name: "buy_401_basic_scheme", path: "/buy", body: valid, header: jsonType, auth: "basic", status: 401, message: "missing bearer token"},
	{name: "buy_401_expired_token", path: "/buy", body: valid, header: jsonType, auth: "expired", status: 401, message: "expired"},
	{name: "buy_401_wrong_audience", path: "/buy", body: valid, header: jsonType, auth: "wrong_audience", status: 401, message: "wrong audience"},
	{name: "buy_401_alg_none", path: "/buy", body: valid, header: jsonType, auth: "alg_none", status: 401, message: "RS256 or ES256"},
	{name: "buy_401_hmac_with_public_key", path: "/buy", body: valid, header: jsonType, auth: "hmac", status: 401, message: "RS256 or ES256"},
	{name: "buy_401_key_not_in_set", path: "/buy", body: valid, header: jsonType, auth: "foreign", status: 401, message: "bad signature"},
	{name: "buy_401_garbage_token", path: "/buy", body: valid, header: jsonType, auth: "garbage", status: 401, message: "malformed"},
	{name: "buy_403_other_users_token", path: "/buy", body: valid, header: jsonType, auth: "other", status: 403, message: "only for themselves"},
	{name: "list_401_expired_token", method: "GET", path: "/getAllUserBuys/badinput", auth: "expired", status: 401, message: "expired"},
	{name: "list_403_other_users_token", method: "GET", path: "/getAllUserBuys/badinput", auth: "other", status: 403, message: "only for themselves"},
	{name: "api_401_no_token", api: true, path: "/", body: valid, header: ceBinary("bad-30", eventType), auth: "none", status: 401, message: "KafkaSource"},
	{name: "api_401_expired_token", api: true, path: "/", body: valid, header: ceBinary("bad-31", eventType), auth: "expired", status: 401, message: "expired"},
	{name: "api_401_wrong_audience", api: true, path: "/", body: valid, header: ceBinary("bad-32", eventType), auth: "wrong_audience", status: 401, message: "wrong audience"},
	{name: "api_401_alg_none", api: true, path: "/", body: valid, header: ceBinary("bad-33", eventType), auth: "alg_none", status: 401, message: "RS256 or ES256"},
	{name: "api_403_other_service_account", api: true, path: "/", body: valid, header: ceBinary("bad-34", eventType), auth: "other", status: 403, message: "EVENTS_ALLOWED_SUBJECTS"},
}

// credentials are the Authorization headers of each kind of credential a
// badRequest names, for cm-server (shoppers, "" = the service key) and for
// cm-api (the source, "" = its token).
func credentials(t *testing.T, shoppers, events *authtest.Issuer) (server, api map[string]string) {
	bearer := func(token string) string { return "Bearer " + token }
	source := authtest.Claims{"sub": sourceSubject}
	server = map[string]string{"": bearer(serviceKey), "basic": "Basic " + serviceKey, "garbage": bearer("abc.def.ghi"),
		"expired": bearer(shoppers.Expired(t, "badinput")), "wrong_audience": bearer(shoppers.Token(t, "badinput", authtest.Claims{"aud": "other"})),
		"alg_none": bearer(shoppers.None(t, "badinput")), "hmac": bearer(shoppers.HMAC(t, "badinput")),
		"foreign": bearer(shoppers.Foreign(t, "badinput")), "other": bearer(shoppers.Token(t, "someoneelse", nil))}
	api = map[string]string{"": bearer(events.Token(t, "", source)),
		"expired":        bearer(events.Token(t, "", authtest.Claims{"sub": sourceSubject, "exp": 1})),
		"wrong_audience": bearer(events.Token(t, "", authtest.Claims{"sub": sourceSubject, "aud": "other"})),
		"alg_none":       bearer(events.None(t, "")), "other": bearer(events.Token(t, "", authtest.Claims{"sub": "system:serviceaccount:shop:default"}))}
	return server, api
}
