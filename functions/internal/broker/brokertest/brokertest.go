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

// Start runs a broker that leads topic's one partition and answers an
// idempotent producer's first requests, until the test ends.
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

// CheckDurable wants what the broker was sent to show an idempotent
// producer that waits for all in-sync replicas: an InitProducerId request,
// and produce requests with acks=-1 whose batches carry the granted id.
func (w *Watch) CheckDurable(t testing.TB) {
	t.Helper()
	var inits, produces int
	for _, rr := range w.mb.History() {
		switch req := rr.Request.(type) {
		case *sarama.InitProducerIDRequest:
			inits++
		case *sarama.ProduceRequest:
			if req.RequiredAcks != sarama.WaitForAll {
				t.Errorf("produce request %d: got acks=%d, want %d (all in-sync replicas)", produces, req.RequiredAcks, sarama.WaitForAll)
			}
			for _, id := range producerIDs(req) {
				if id != ProducerID {
					t.Errorf("produce request %d: got a batch of producer id %d, want the granted %d", produces, id, ProducerID)
				}
			}
			produces++
		}
	}
	if inits == 0 {
		t.Error("InitProducerId requests: got none, want one (an idempotent producer asks for its id first)")
	}
	if produces == 0 {
		t.Fatal("produce requests: got none, want the record sent")
	}
}

// producerIDs returns the producer id of every record batch in req, -1 for
// a legacy message set. sarama keeps the batches unexported, so they are
// read by reflection, only exported fields of sarama.RecordBatch.
func producerIDs(req *sarama.ProduceRequest) []int64 {
	var ids []int64
	topics := reflect.ValueOf(req).Elem().FieldByName("records")
	for it := topics.MapRange(); it.Next(); {
		for pit := it.Value().MapRange(); pit.Next(); {
			batch := pit.Value().FieldByName("RecordBatch")
			if batch.IsNil() {
				ids = append(ids, -1)
				continue
			}
			ids = append(ids, batch.Elem().FieldByName("ProducerID").Int())
		}
	}
	return ids
}
