package purchase

import (
	"cmp"
	"encoding/json"
	"errors"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// members are what Parse reads of a body: the raw JSON of the four members
// it knows, nil when absent, and the names of any others, in no order.
type members struct {
	username, userid, price, timestamp json.RawMessage
	unknown                            []string
}

// decodeMembers reads any body, which must be exactly one JSON object. A
// member given twice is an error: parsers disagree on which one wins, so a
// proxy and this service could see different purchases. The JSON v2
// experiment (github.com/go-json-experiment/json, the base of Go's
// encoding/json/v2) rejects duplicate names and says which.
func decodeMembers(body []byte) (members, error) {
	var fields map[string]json.RawMessage
	err := jsonv2.Unmarshal(body, &fields)
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName) {
		name := cmp.Or(syn.JSONPointer.LastToken(), "body")
		return members{}, invalid(truncate(name, 40), "given more than once")
	}
	if err != nil || fields == nil {
		return members{}, invalid("body", "must be one JSON object")
	}
	var m members
	for k, v := range fields {
		if slot := m.slot(k); slot != nil {
			*slot = v
		} else {
			m.unknown = append(m.unknown, k)
		}
	}
	return m, nil
}
