package purchase

import "encoding/json"

// scanMembers is Parse's fast path. decodeObject reads any body, through
// reflection into a map; scanMembers reads without either the shape nearly
// every body has. With jsonString's and checkText's fast paths it saves
// about 15% of cm-api's CPU per stored purchase and 13% of cm-server's per
// /buy (docs/performance.md, "Fast paths: measured and decided").
//
// That shape is one JSON object whose members are among the four known
// ones, each at most once, with plain names and values that are strings
// without escapes or control characters, numbers (RFC 8259's grammar) or
// null, and JSON white space anywhere between tokens. On anything else it gives up (ok is false) and Parse
// takes decodeObject, so it never has to be sure of more than that shape.
//
// When it accepts, its members are decodeObject's, byte for byte:
// FuzzParseFastPath holds it to that and Parse to the slow path's answer.
// body must be valid UTF-8, as Parse checks first: the scanner looks only
// at ASCII bytes.
func scanMembers(body []byte) (m members, ok bool) {
	s := scanner{b: body}
	if !s.skip('{') {
		return members{}, false
	}
	if s.skip('}') {
		return m, s.end()
	}
	for {
		slot := m.slot(s.name())
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

// slot is where the member called name goes; nil for a name scanMembers
// leaves to decodeObject.
func (m *members) slot(name []byte) *json.RawMessage {
	switch string(name) {
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

// scanner reads b from i on. Every method that fails leaves i anywhere:
// the scan is over.
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

// space consumes JSON white space.
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
		return nil
	case c == 'n':
		if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
			s.i += 4
			return s.b[start:s.i]
		}
		return nil
	case c == '-' || c >= '0' && c <= '9':
		if s.number() {
			return s.b[start:s.i]
		}
	}
	return nil
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. What
// follows is the caller's: "01" is 0 followed by 1, which no object allows.
func (s *scanner) number() bool {
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

// digits consumes [0-9]* and says how many.
func (s *scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}
