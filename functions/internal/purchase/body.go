package purchase

import (
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

// decodeMembers reads body with decodeObject: any body at all.
func decodeMembers(body []byte) (members, error) {
	fields, err := decodeObject(body)
	if err != nil {
		return members{}, err
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

// decodeObject reads body as exactly one JSON object into its members. A
// member given twice is an error: parsers disagree on which one wins, so a
// proxy and this service could see different purchases. The JSON v2
// experiment (github.com/go-json-experiment/json, the base of Go's
// encoding/json/v2) rejects duplicate names by default and says which.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	err := jsonv2.Unmarshal(body, &fields)
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName) {
		return nil, invalid(truncate(duplicateName(syn), 40), "given more than once")
	}
	if err != nil || fields == nil {
		return nil, invalid("body", "must be one JSON object")
	}
	return fields, nil
}

// duplicateName is the member name a duplicate-name error points at.
func duplicateName(syn *jsontext.SyntacticError) string {
	var name string
	for tok := range syn.JSONPointer.Tokens() {
		name = tok
	}
	if name == "" {
		return "body"
	}
	return name
}
