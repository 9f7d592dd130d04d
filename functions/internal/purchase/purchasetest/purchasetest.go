// Package purchasetest holds one purchase of each shape cm-server sends, for
// the tests of the code that reads them back from Kafka records.
package purchasetest

import (
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// Shapes are the purchases cm-server sends, one of each shape: "plain" (a
// shopper's JSON), "keyed" (with an Idempotency-Key) and "origin" (from a
// client's CloudEvent, which keeps its own id and source).
func Shapes() map[string]purchase.Purchase {
	plain := purchase.Purchase{ID: "0190c5d4-7e1a-7b3c-9f00-0123456789ab", Username: "joe", UserID: "005", Price: 119530,
		Timestamp: time.Date(2024, 5, 31, 15, 54, 32, 204e6, time.UTC)}
	keyed, origin := plain, plain
	keyed.KeyID = "6f1c1a6e-4a54-4f3e-9d0b-5c6c7a0e2b1d"
	origin.Origin = purchase.Origin{EventID: "client-1", EventSource: "/client"}
	return map[string]purchase.Purchase{"plain": plain, "keyed": keyed, "origin": origin}
}
