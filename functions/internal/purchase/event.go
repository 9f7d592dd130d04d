package purchase

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/google/uuid"

	"github.com/scalable-shop/scalable-shop/functions/internal/jsonstring"
)

// EventType is the CloudEvents type of a purchase: reverse DNS and versioned,
// so that a breaking change to the data gets a new type instead of surprising
// old consumers.
const EventType = "io.scalableshop.purchase.created.v1"

// PartitionKeyExtension is the CloudEvents extension that Kafka bindings
// (the SDK's and Knative's KafkaSink) turn into the record key. It carries
// the user id, so one user's purchases stay in one partition, in order.
const PartitionKeyExtension = "partitionkey"

// The extensions that carry a purchase's Origin from cm-server to cm-api.
const (
	OriginIDExtension     = "clienteventid"
	OriginSourceExtension = "clienteventsource"
)

// KeyIDExtension carries a purchase's KeyID from cm-server to cm-api.
const KeyIDExtension = "idempotencyid"

// MaxSourceLen bounds a client's CloudEvent source, kept with the purchase.
const MaxSourceLen = 512

// NewEvent builds the CloudEvent that announces p, sent from source. The
// event is what event.New and its setters make (newEventWithSetters, which
// TestNewEventIsTheSetters compares it with), filled in directly: p is
// valid, so the setters' checks cannot fail, and source is parsed once.
func NewEvent(p Purchase, source string) event.Event {
	src, ok := sourceURI(source)
	if !ok || p.ID == "" || p.UserID == "" || p.Timestamp.IsZero() ||
		strings.TrimSpace(p.ID) != p.ID || strings.TrimSpace(p.UserID) != p.UserID {
		return newEventWithSetters(p, source)
	}
	exts := map[string]any{PartitionKeyExtension: p.UserID}
	if p.KeyID != "" {
		exts[KeyIDExtension] = p.KeyID
	}
	if p.Origin != (Origin{}) {
		exts[OriginIDExtension] = p.Origin.EventID
		exts[OriginSourceExtension] = p.Origin.EventSource
	}
	subject, contentType := p.UserID, event.ApplicationJSON
	return event.Event{Context: &event.EventContextV1{ID: p.ID, Source: src, Type: EventType, Subject: &subject,
		Time: &types.Timestamp{Time: p.Timestamp}, DataContentType: &contentType, Extensions: exts}, DataEncoded: eventJSON(p)}
}

// newEventWithSetters is NewEvent through event.New and its setters.
func newEventWithSetters(p Purchase, source string) event.Event {
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
	e.DataEncoded = eventJSON(p)
	e.SetDataContentType(event.ApplicationJSON)
	return e
}

// eventJSON is the event's data: {"username","userid","price","timestamp"},
// byte for byte what encoding/json.Marshal wrote for it before (FuzzEventJSON
// holds it to that), appended without reflection.
func eventJSON(p Purchase) []byte {
	b := make([]byte, 0, 100+len(p.Username)+len(p.UserID))
	b = append(b, `{"username":`...)
	b = jsonstring.Append(b, p.Username)
	b = append(b, `,"userid":`...)
	b = jsonstring.Append(b, p.UserID)
	b = append(b, `,"price":"`...)
	if p.Price >= 0 {
		b = strconv.AppendInt(b, int64(p.Price/100), 10)
		b = append(b, '.', byte('0'+p.Price%100/10), byte('0'+p.Price%10))
	} else {
		b = append(b, p.Price.String()...)
	}
	// A formatted time is digits, '-', ':', 'T', '.' and 'Z': nothing to escape.
	b = append(b, `","timestamp":"`...)
	b = p.Timestamp.UTC().AppendFormat(b, TimeLayout)
	return append(b, `"}`...)
}

// sources are the event sources parsed so far: one per function.
var sources sync.Map // string -> types.URIRef

// sourceURI is source parsed as event.SetSource parses it; false when it
// does not parse.
func sourceURI(source string) (types.URIRef, bool) {
	if v, ok := sources.Load(source); ok {
		return v.(types.URIRef), true
	}
	u, err := url.Parse(source)
	if err != nil {
		return types.URIRef{}, false
	}
	ref := types.URIRef{URL: *u}
	sources.Store(source, ref)
	return ref, true
}

// FromEvent reads a purchase event. The event id becomes the purchase id;
// a missing timestamp in the data falls back to now (zero now: required).
// Anything that is not a valid purchase event is an *Error.
func FromEvent(e event.Event, now time.Time) (Purchase, error) {
	if err := e.Validate(); err != nil {
		return Purchase{}, invalid("event", "not a valid CloudEvent: "+firstLine(err.Error()))
	}
	exts := e.Extensions() // a copy: taken once
	ext := func(name string) string {
		s, _ := exts[name].(string)
		return s
	}
	return FromAttributes(Attributes{ID: e.ID(), Type: e.Type(), DataContentType: e.DataContentType(), Data: e.Data(),
		KeyID: ext(KeyIDExtension), OriginID: ext(OriginIDExtension), OriginSource: ext(OriginSourceExtension)}, now)
}

// Attributes are what FromEvent reads of a valid CloudEvent: some of its
// attributes, the purchase extensions (as strings, "" when absent) and its
// data.
type Attributes struct {
	ID, Type, DataContentType string
	Data                      []byte
	KeyID                     string
	OriginID, OriginSource    string
}

// FromAttributes is FromEvent for an event already known to be a valid
// CloudEvent, given as its Attributes: a Kafka record read without building
// an event.Event (cm-api's consumer) comes here.
func FromAttributes(a Attributes, now time.Time) (Purchase, error) {
	if a.Type != EventType {
		return Purchase{}, invalid("type", fmt.Sprintf("must be %q", EventType))
	}
	switch a.DataContentType {
	case "", event.ApplicationJSON, "text/json":
	default:
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

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return truncate(s, 200)
}
