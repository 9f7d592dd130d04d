// Package brokertest watches what the functions' Kafka producers put on the
// wire: a sarama MockBroker that leads every partition of one topic,
// answers as Kafka does, and keeps each request it was sent.
package brokertest

import (
	"reflect"
	"testing"

	"github.com/IBM/sarama"
)

// ProducerID is the producer id the watched broker grants an idempotent
// producer; its batches must carry it.
const ProducerID = 4711

// Watch is a running mock broker.
type Watch struct{ mb *sarama.MockBroker }

// Start runs a broker that serves topic (one partition) and the requests an
// idempotent producer and a consumer group's client make first; it stops
// when the test ends.
func Start(t testing.TB, topic string) *Watch {
	t.Helper()
	mb := sarama.NewMockBroker(t, 1)
	mb.SetHandlerByMap(map[string]sarama.MockResponse{
		"ApiVersionsRequest": sarama.NewMockApiVersionsResponse(t).SetApiKeys([]sarama.ApiVersionsResponseKey{
			{ApiKey: 0, MinVersion: 0, MaxVersion: 9},  // Produce
			{ApiKey: 3, MinVersion: 0, MaxVersion: 12}, // Metadata
			{ApiKey: 18, MinVersion: 0, MaxVersion: 3}, // ApiVersions
			{ApiKey: 22, MinVersion: 0, MaxVersion: 4}, // InitProducerId
		}),
		"MetadataRequest": sarama.NewMockMetadataResponse(t).SetBroker(mb.Addr(), mb.BrokerID()).
			SetController(mb.BrokerID()).SetLeader(topic, 0, mb.BrokerID()),
		"InitProducerIDRequest": sarama.NewMockInitProducerIDResponse(t).SetProducerID(ProducerID),
		"ProduceRequest":        sarama.NewMockProduceResponse(t),
	})
	t.Cleanup(mb.Close)
	return &Watch{mb: mb}
}

// Addr is where the broker listens.
func (w *Watch) Addr() string { return w.mb.Addr() }

// Sent is what the broker was sent so far.
type Sent struct {
	InitProducerIDs int                      // InitProducerId requests: an idempotent producer's first
	Produces        []*sarama.ProduceRequest // in the order received
}

// Sent returns the requests received so far.
func (w *Watch) Sent() Sent {
	var s Sent
	for _, rr := range w.mb.History() {
		switch req := rr.Request.(type) {
		case *sarama.InitProducerIDRequest:
			s.InitProducerIDs++
		case *sarama.ProduceRequest:
			s.Produces = append(s.Produces, req)
		}
	}
	return s
}

// ProducerIDs returns the producer id of every record batch in req (-1 for
// a batch of a producer that is not idempotent). sarama keeps a request's
// batches unexported, so they are read by reflection; only exported fields
// of sarama.RecordBatch are read.
func ProducerIDs(req *sarama.ProduceRequest) []int64 {
	var ids []int64
	topics := reflect.ValueOf(req).Elem().FieldByName("records")
	for it := topics.MapRange(); it.Next(); {
		for pit := it.Value().MapRange(); pit.Next(); {
			batch := pit.Value().FieldByName("RecordBatch")
			if batch.IsNil() {
				ids = append(ids, -1) // a legacy message set: no producer id at all
				continue
			}
			ids = append(ids, batch.Elem().FieldByName("ProducerID").Int())
		}
	}
	return ids
}

// CheckDurable wants what the broker was sent to show an idempotent
// producer that waits for all in-sync replicas: an InitProducerId request,
// and produce requests with acks=-1 whose batches carry the granted id.
func (w *Watch) CheckDurable(t testing.TB) {
	t.Helper()
	sent := w.Sent()
	if sent.InitProducerIDs == 0 {
		t.Error("InitProducerId requests: got none, want one (an idempotent producer asks for its id first)")
	}
	if len(sent.Produces) == 0 {
		t.Fatal("produce requests: got none, want the record sent")
	}
	for i, req := range sent.Produces {
		if req.RequiredAcks != sarama.WaitForAll {
			t.Errorf("produce request %d: got acks=%d, want %d (all in-sync replicas)", i, req.RequiredAcks, sarama.WaitForAll)
		}
		for _, id := range ProducerIDs(req) {
			if id != ProducerID {
				t.Errorf("produce request %d: got a batch of producer id %d, want the granted %d", i, id, ProducerID)
			}
		}
	}
}
