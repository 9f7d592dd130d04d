package shopctl

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// deadLetter is one record of the dead-letter topic, in either mode.
type deadLetter struct {
	Mode       string    `json:"mode"` // "kafka" (cm-api's dlq-* headers) or "knative" (knativeerror* extensions)
	PurchaseID string    `json:"purchase_id,omitempty"`
	UserID     string    `json:"user_id,omitempty"`
	Username   string    `json:"username,omitempty"`
	Reason     string    `json:"reason,omitempty"` // dlq-reason, or the answer's message in knativeerrordata
	Code       string    `json:"status_code,omitempty"`
	OrigTopic  string    `json:"original_topic,omitempty"`
	OrigPart   *int64    `json:"original_partition,omitempty"`
	OrigOffset *int64    `json:"original_offset,omitempty"`
	At         time.Time `json:"dead_lettered_at"`
	Partition  int32     `json:"dlq_partition"`
	Offset     int64     `json:"dlq_offset"`
	Invalid    string    `json:"invalid,omitempty"` // why the record is not a valid purchase event
}

// Kafka mode's headers, written by cm-api (functions/cm-api/consume.go), and
// Knative mode's extensions as a KafkaSink writes them (binary mode, ce_
// headers): knativeerror* by the dispatcher (eventing-kafka-broker
// data-plane, RecordDispatcherImpl), knativekafka* by
// CloudEventOverridesMutator (/work/shared/DATAPLANE.md).
const (
	headerReason          = "dlq-reason"
	headerTopic           = "dlq-original-topic"
	headerPartition       = "dlq-original-partition"
	headerOffset          = "dlq-original-offset"
	extErrorCode          = "knativeerrorcode"
	extErrorDest          = "knativeerrordest"
	extErrorData          = "knativeerrordata"
	extKafkaPartition     = "knativekafkapartition"
	extKafkaOffset        = "knativekafkaoffset"
	cloudEventHeaderStart = "ce_"
)

// parseDeadLetter reads what a dead letter says about itself.
func parseDeadLetter(ctx context.Context, msg *sarama.ConsumerMessage) deadLetter {
	d := deadLetter{Mode: "knative", At: msg.Timestamp, Partition: msg.Partition, Offset: msg.Offset}
	h := map[string]string{}
	for _, hd := range msg.Headers {
		h[string(hd.Key)] = string(hd.Value)
	}
	if reason, ok := h[headerReason]; ok {
		d.Mode, d.Reason, d.OrigTopic = "kafka", reason, h[headerTopic]
		d.OrigPart, d.OrigOffset = number(h[headerPartition]), number(h[headerOffset])
	} else {
		d.Code = h[cloudEventHeaderStart+extErrorCode]
		d.Reason = answerMessage(h[cloudEventHeaderStart+extErrorData])
		d.OrigPart = number(h[cloudEventHeaderStart+extKafkaPartition])
		d.OrigOffset = number(h[cloudEventHeaderStart+extKafkaOffset])
	}
	e, err := binding.ToEvent(ctx, kafka_sarama.NewMessageFromConsumerMessage(msg))
	if err != nil {
		d.Invalid = "not a CloudEvent: " + err.Error()
		return d
	}
	d.PurchaseID = e.ID()
	if s, ok := e.Extensions()[purchase.PartitionKeyExtension].(string); ok {
		d.UserID = s
	}
	p, err := purchase.FromEvent(*e, msg.Timestamp)
	if err != nil {
		d.Invalid = err.Error()
		return d
	}
	d.UserID, d.Username = p.UserID, p.Username
	return d
}

// number reads a decimal header value; nil when absent or not a number.
func number(s string) *int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil
	}
	return &n
}

// answerMessage is the message of cm-api's JSON error answer carried
// (base64) in knativeerrordata, or the answer itself, cut to 200 bytes.
func answerMessage(data string) string {
	if data == "" {
		return ""
	}
	body, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return "undecodable knativeerrordata"
	}
	var answer struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &answer) == nil && answer.Message != "" {
		return answer.Message
	}
	return string(body[:min(len(body), 200)])
}

func writeJSON(w io.Writer, letters []deadLetter, now time.Time) error {
	enc := json.NewEncoder(w)
	for _, d := range letters {
		row := struct {
			deadLetter
			AgeSeconds int64 `json:"age_seconds"`
		}{d, int64(now.Sub(d.At).Seconds())}
		if err := enc.Encode(row); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
	}
	return nil
}

func writeTable(w io.Writer, letters []deadLetter, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PURCHASE\tUSER\tMODE\tCODE\tREASON\tORIGIN\tAGE")
	for _, d := range letters {
		reason := d.Reason
		if d.Invalid != "" && reason == "" {
			reason = d.Invalid
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(d.PurchaseID), dash(d.UserID), d.Mode, dash(d.Code),
			dash(reason), origin(d), now.Sub(d.At).Round(time.Second))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	_, err := fmt.Fprintf(w, "%d dead letters\n", len(letters))
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// origin is topic/partition/offset of the record that failed, "-" for
// what is not known (Knative's dead letters do not name the topic).
func origin(d deadLetter) string {
	n := func(p *int64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatInt(*p, 10)
	}
	return dash(d.OrigTopic) + "/" + n(d.OrigPart) + "/" + n(d.OrigOffset)
}
