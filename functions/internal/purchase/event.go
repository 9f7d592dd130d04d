package purchase

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
)

// The purchase event's CloudEvents type and extensions.
const (
	// EventType is versioned: a breaking change to the data gets a new type.
	EventType = "io.scalableshop.purchase.created.v1"
	// PartitionKeyExtension carries the user id, which Kafka bindings (the
	// SDK's, the KafkaSink's) make the record key: one user's purchases
	// stay in one partition, in order.
	PartitionKeyExtension = "partitionkey"
	// The purchase's Origin and KeyID, from cm-server to cm-api.
	OriginIDExtension     = "clienteventid"
	OriginSourceExtension = "clienteventsource"
	KeyIDExtension        = "idempotencyid"
)

// MaxSourceLen bounds a client's CloudEvent source, kept with the purchase.
const MaxSourceLen = 512

// NewEvent builds the CloudEvent that announces p, sent from source.
func NewEvent(p Purchase, source string) event.Event {
	e := event.New()
	e.SetID(p.ID)
	e.SetType(EventType)
	e.SetSource(source)
	e.SetSubject(p.UserID)
	e.SetTime(p.Timestamp)
	e.SetExtension(PartitionKeyExtension, p.UserID)
	if p.KeyID != "" {
		e.SetExtension(KeyIDExtension, p.KeyID)
	}
	if p.Origin != (Origin{}) {
		e.SetExtension(OriginIDExtension, p.Origin.EventID)
		e.SetExtension(OriginSourceExtension, p.Origin.EventSource)
	}
	// Strings and Money: marshalling cannot fail.
	e.DataEncoded, _ = json.Marshal(eventData{p.Username, p.UserID, p.Price, FormatTime(p.Timestamp)})
	e.SetDataContentType(event.ApplicationJSON)
	return e
}

// eventData is the wire shape of a purchase event's data.
type eventData struct {
	Username  string `json:"username"`
	UserID    string `json:"userid"`
	Price     Money  `json:"price"`
	Timestamp string `json:"timestamp"`
}

// FromEvent reads a purchase event, the event id as the purchase id, as
// Parse reads a body. Anything that is not a valid purchase event is an *Error.
func FromEvent(e event.Event, now time.Time) (Purchase, error) {
	if err := e.Validate(); err != nil {
		first, _, _ := strings.Cut(err.Error(), "\n")
		return Purchase{}, invalid("event", "not a valid CloudEvent: "+truncate(first, 200))
	}
	exts := e.Extensions() // a copy, so taken once
	ext := func(name string) string {
		s, _ := exts[name].(string)
		return s
	}
	return FromAttributes(Attributes{ID: e.ID(), Type: e.Type(), DataContentType: e.DataContentType(), Data: e.Data(),
		KeyID: ext(KeyIDExtension), OriginID: ext(OriginIDExtension), OriginSource: ext(OriginSourceExtension)}, now)
}

// Attributes are what FromEvent reads of a valid CloudEvent; an absent
// extension is "".
type Attributes struct {
	ID, Type, DataContentType string
	Data                      []byte
	KeyID                     string
	OriginID, OriginSource    string
}

// FromAttributes is FromEvent for a valid CloudEvent read without building
// an event.Event, as cm-api's consumer reads Kafka records.
func FromAttributes(a Attributes, now time.Time) (Purchase, error) {
	if a.Type != EventType {
		return Purchase{}, invalid("type", fmt.Sprintf("must be %q", EventType))
	}
	if !slices.Contains([]string{"", event.ApplicationJSON, "text/json"}, a.DataContentType) {
		return Purchase{}, invalid("datacontenttype", "must be application/json")
	}
	if len(a.Data) == 0 {
		return Purchase{}, invalid("data", "is required")
	}
	p, err := Parse(a.ID, a.Data, now)
	if err != nil {
		return Purchase{}, err
	}
	if p.Origin, err = originOf(a.OriginID, a.OriginSource); err != nil {
		return Purchase{}, err
	}
	if a.KeyID != "" {
		if uuid.Validate(a.KeyID) != nil {
			return Purchase{}, invalid(KeyIDExtension, "must be a UUID")
		}
		p.KeyID = a.KeyID
	}
	return p, nil
}

// originOf reads the Origin extensions, if the event has them.
func originOf(id, source string) (Origin, error) {
	if id == "" && source == "" {
		return Origin{}, nil
	}
	if _, err := parseID(id); err != nil {
		return Origin{}, invalid(OriginIDExtension, err.Error())
	}
	if source == "" || len(source) > MaxSourceLen {
		return Origin{}, invalid(OriginSourceExtension, fmt.Sprintf("must be 1 to %d bytes", MaxSourceLen))
	}
	return Origin{EventID: id, EventSource: source}, nil
}
