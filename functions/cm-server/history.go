package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// maxListBody bounds what is read back from cm-api; a full page of 1000
// purchases is about 200 KiB.
const maxListBody = 4 << 20

// userBuys is the answer of GET /getAllUserBuys/{username}.
type userBuys struct {
	Username   string            `json:"username"`
	Purchases  []json.RawMessage `json:"purchases"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// buyList is cm-api's answer to GET /buyList/{username}.
type buyList struct {
	Status     string            `json:"status"`
	Purchases  []json.RawMessage `json:"purchases"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// apiClient asks cm-api for purchase lists, each call bounded by timeout.
type apiClient struct {
	base    string
	timeout time.Duration
	http    *http.Client
}

func newAPIClient(base string, timeout time.Duration) *apiClient {
	return &apiClient{base: base, timeout: timeout, http: &http.Client{Timeout: timeout, Transport: telemetry.Transport(nil)}}
}

// withToken makes c send the token in file (CM_API_TOKEN_FILE, a projected
// service-account token the kubelet renews) on every call; "" sends none.
func (c *apiClient) withToken(file string, now func() time.Time) *apiClient {
	if file != "" {
		c.http.Transport = telemetry.Transport(&fileToken{base: http.DefaultTransport, file: file, now: now})
	}
	return c
}

// errAPIRefused means cm-api refused cm-server itself (401 or 403): a
// deployment error, not the shopper's, who gets a 502.
var errAPIRefused = errors.New("cm-api refused cm-server's identity: check CM_API_TOKEN_FILE on cm-server against READS_AUDIENCE and READS_ALLOWED_SUBJECTS on cm-api")

// refused is the problem for cm-api's 401 or 403 to cm-server.
func refused(status int) error {
	return &server.Problem{Status: http.StatusBadGateway, Message: "the purchase service is unavailable",
		Err: fmt.Errorf("cm-api answered %d: %w", status, errAPIRefused)}
}

// buyList fetches one page. A 4xx from cm-api comes back with cm-api's own
// message; anything else that fails is a 502, or a 504 when cm-api is slow.
func (c *apiClient) buyList(ctx context.Context, username string, page purchase.Page) (buyList, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.base + "/buyList/" + url.PathEscape(username) + "?" + page.Query().Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return buyList{}, fmt.Errorf("build cm-api request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return buyList{}, c.upstreamProblem(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxListBody))
	if err != nil {
		return buyList{}, c.upstreamProblem(err)
	}
	var e server.ErrorBody
	explained := resp.StatusCode != http.StatusOK && json.Unmarshal(body, &e) == nil && e.Message != ""
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return buyList{}, refused(resp.StatusCode)
	case resp.StatusCode == http.StatusOK:
		var out buyList
		if err := json.Unmarshal(body, &out); err != nil {
			return buyList{}, c.upstreamProblem(fmt.Errorf("decode cm-api answer: %w", err))
		}
		return out, nil
	case explained && resp.StatusCode >= 400 && resp.StatusCode < 500:
		return buyList{}, &server.Problem{Status: resp.StatusCode, Message: e.Message, Fields: e.Errors}
	case explained && resp.StatusCode == http.StatusGatewayTimeout:
		// cm-api's store was too slow: say so.
		return buyList{}, &server.Problem{Status: http.StatusGatewayTimeout, Message: "cm-api: " + e.Message,
			Err: fmt.Errorf("cm-api answered %d", resp.StatusCode)}
	}
	return buyList{}, c.upstreamProblem(fmt.Errorf("cm-api answered %d", resp.StatusCode))
}

// upstreamProblem answers a failed call to cm-api: 504 on its timeout, else 502.
func (c *apiClient) upstreamProblem(err error) error {
	var uerr *url.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &uerr) && uerr.Timeout() {
		return &server.Problem{Status: http.StatusGatewayTimeout,
			Message: fmt.Sprintf("cm-api, the purchase history service, did not answer within %v", c.timeout), Err: err}
	}
	return &server.Problem{Status: http.StatusBadGateway, Message: "the purchase service is unavailable", RetryAfter: time.Second, Err: err}
}

// handleGetAllUserBuys answers a user's purchases, newest first, one page at a time.
func handleGetAllUserBuys(log *slog.Logger, api *apiClient) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		username, page, err := purchase.ParseList(r.PathValue("username"), r.URL.Query())
		if err == nil {
			err = authorize(r, username, true)
		}
		if err != nil {
			server.Fail(w, r, log, err)
			return
		}
		list, err := api.buyList(r.Context(), username, page)
		if err != nil {
			server.Fail(w, r, log, err)
			return
		}
		if list.Purchases == nil {
			list.Purchases = []json.RawMessage{}
		}
		server.Encode(w, http.StatusOK, userBuys{username, list.Purchases, list.NextCursor})
	})
}
