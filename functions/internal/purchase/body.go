package purchase

import (
	"cmp"
	"encoding/json"
	"errors"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// members are what Parse reads of a body: the raw JSON of the four members
// it knows, nil when absent, and the names of any others, in no order.
type members struct {
	username, userid, price, timestamp json.RawMessage
	unknown                            []string
}

// decodeMembers reads any body that is one JSON object. A member given twice
// is refused, as the JSON v2 experiment (the base of encoding/json/v2) does:
// parsers disagree on which wins, so a proxy could see another purchase.
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

// scanMembers is Parse's fast path (docs/performance.md, "Fast paths:
// measured and decided"): without reflection, it reads the shape nearly
// every body has, the known members at most once each, with plain names and
// values that are numbers, null or strings without escapes or control
// characters. On anything else ok is false and Parse takes decodeMembers,
// whose members it gives byte for byte (FuzzParseFastPath). body must be
// valid UTF-8; the scanner looks only at ASCII.
func scanMembers(body []byte) (m members, ok bool) {
	s := scanner{b: body}
	if !s.skip('{') {
		return members{}, false
	}
	if s.skip('}') {
		return m, s.end()
	}
	for {
		slot := m.slot(string(s.name()))
		if slot == nil || *slot != nil || !s.skip(':') {
			return members{}, false
		}
		if *slot = s.value(); *slot == nil {
			return members{}, false
		}
		if s.skip('}') {
			return m, s.end()
		}
		if !s.skip(',') {
			return members{}, false
		}
	}
}

// slot is where the member called name goes; nil for an unknown name.
func (m *members) slot(name string) *json.RawMessage {
	switch name {
	case "username":
		return &m.username
	case "userid":
		return &m.userid
	case "price":
		return &m.price
	case "timestamp":
		return &m.timestamp
	}
	return nil
}

// scanner reads b from i on. After a method fails, the scan is over.
type scanner struct {
	b []byte
	i int
}

// skip consumes white space, then c if it comes next.
func (s *scanner) skip(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// name reads a member name up to its closing quote. A name with an escape
// ends at a backslash or a quote it escapes, so it matches no known name.
func (s *scanner) name() []byte {
	if !s.skip('"') {
		return nil
	}
	start := s.i
	for s.i < len(s.b) {
		if s.b[s.i] == '"' {
			s.i++
			return s.b[start : s.i-1]
		}
		s.i++
	}
	return nil
}

// value reads a plain string, a number or null, after white space; nil for
// anything else.
func (s *scanner) value() []byte {
	s.space()
	if s.i >= len(s.b) {
		return nil
	}
	start := s.i
	switch c := s.b[s.i]; {
	case c == '"':
		for s.i++; s.i < len(s.b); s.i++ {
			switch c := s.b[s.i]; {
			case c == '"':
				s.i++
				return s.b[start:s.i]
			case c == '\\' || c < 0x20:
				return nil
			}
		}
	case c == 'n':
		if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
			s.i += 4
			return s.b[start:s.i]
		}
	case c == '-' || c >= '0' && c <= '9':
		for s.i < len(s.b) && strings.IndexByte("+-.0123456789Ee", s.b[s.i]) >= 0 {
			s.i++
		}
		if json.Valid(s.b[start:s.i]) {
			return s.b[start:s.i]
		}
	}
	return nil
}
