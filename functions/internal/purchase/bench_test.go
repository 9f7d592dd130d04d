package purchase_test

import (
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

var benchBody = []byte(`{"username":"joe","userid":"005","price":"1195.30","timestamp":"2024-05-31T15:54:32.204Z"}`)

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := purchase.Parse("0190c5d4-7e1a-7b3c-9f00-0123456789ab", benchBody, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEventRoundTrip(b *testing.B) {
	p, err := purchase.Parse("0190c5d4-7e1a-7b3c-9f00-0123456789ab", benchBody, now)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		e := purchase.NewEvent(p, "/scalable-shop/cm-server")
		if _, err := purchase.FromEvent(e, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}
