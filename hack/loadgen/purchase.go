package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"
)

// The event as cm-server builds it (functions/internal/purchase/event.go).
const (
	eventType    = "io.scalableshop.purchase.created.v1"
	serverSource = "/scalable-shop/cm-server"
	timeLayout   = "2006-01-02T15:04:05.000Z07:00"
)

// purchase is one generated purchase.
type purchase struct {
	ID         string
	Username   string
	UserID     string
	PriceMinor int64
	Timestamp  time.Time // millisecond precision, UTC
}

// newPurchase makes purchase i of a run whose load is spread over users,
// named with prefix so that runs never share a user.
func newPurchase(prefix string, i, users int, ts time.Time) purchase {
	u := i % users
	return purchase{ID: uuid.Must(uuid.NewV7()).String(), Username: fmt.Sprintf("%s-user-%d", prefix, u),
		UserID: fmt.Sprintf("%s-%d", prefix, u), PriceMinor: int64(100 + i%100_000),
		Timestamp: ts.UTC().Truncate(time.Millisecond)}
}

func (p purchase) price() string { return fmt.Sprintf("%d.%02d", p.PriceMinor/100, p.PriceMinor%100) }

// body is the JSON a shopper sends to POST /buy.
func (p purchase) body() []byte {
	b, _ := json.Marshal(p.data()) // strings only: cannot fail
	return b
}

type eventData struct {
	Username  string `json:"username"`
	UserID    string `json:"userid"`
	Price     string `json:"price"`
	Timestamp string `json:"timestamp"`
}

func (p purchase) data() eventData {
	return eventData{p.Username, p.UserID, p.price(), p.Timestamp.Format(timeLayout)}
}

// event is the CloudEvent cm-server sends for p.
func (p purchase) event() event.Event {
	e := event.New()
	e.SetID(p.ID)
	e.SetType(eventType)
	e.SetSource(serverSource)
	e.SetSubject(p.UserID)
	e.SetTime(p.Timestamp)
	e.SetExtension("partitionkey", p.UserID)
	e.DataEncoded = p.body()
	e.SetDataContentType(event.ApplicationJSON)
	return e
}

// document is p as cm-api stores it.
func (p purchase) document() storedPurchase {
	return storedPurchase{ID: p.ID, Username: p.Username, UserID: p.UserID, PriceMinor: p.PriceMinor, Timestamp: p.Timestamp}
}

// deliver POSTs p to cm-api's POST / as a binary-mode CloudEvent, as a
// KafkaSource delivers it, and wants a 200.
func (p purchase) deliver(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	e := p.event()
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&e), req); err != nil {
		return fmt.Errorf("encode event %s: %w", p.ID, err)
	}
	return expect(client, req, http.StatusOK)
}

// expect sends req and wants status, reading the body away so the
// connection is reused.
func expect(client *http.Client, req *http.Request, status int) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != status {
		return fmt.Errorf("%s %s: status %d, want %d: %.200s", req.Method, req.URL.Path, resp.StatusCode, status, body)
	}
	return nil
}

// httpClient keeps up to conns connections to each host alive.
func httpClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0
	t.MaxIdleConnsPerHost = conns
	t.DisableCompression = true
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}
