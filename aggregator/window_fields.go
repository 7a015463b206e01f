package aggregator

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The window and deadband steps read a few top-level fields of each
// record. Decoding the whole value into a map (Record.Fields) costs most of
// a record's time and about 30 allocations; scanFields reads the same
// fields from the raw JSON in one pass, allocation-free for numbers, and
// finds the same values: it accepts exactly the documents encoding/json
// does (a fuzz test holds it to that), so a value Fields would refuse
// counts with every field missing here too. A record some earlier step
// already decoded is read from its map.

// span is where one member's value lies in the document.
type span struct {
	start, end int
	found      bool
}

// scanFields finds the top-level members named in names in the JSON
// object doc: spans[i] is the last value of names[i] (encoding/json keeps
// the last of duplicate names). It returns false when doc is not a JSON
// object that encoding/json would decode.
func scanFields(doc []byte, names []string, spans []span) bool {
	for i := range spans {
		spans[i] = span{}
	}
	s := scanner{b: doc}
	s.ws()
	if !s.objectMembers(names, spans) {
		return false
	}
	s.ws()
	return s.i == len(s.b)
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

type scanner struct {
	b     []byte
	i     int
	depth int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// objectMembers scans an object at s.i, noting the top-level names wanted
// (names nil: none, as in a nested object).
func (s *scanner) objectMembers(names []string, spans []span) bool {
	if s.peek() != '{' {
		return false
	}
	if s.depth++; s.depth > maxDepth {
		return false
	}
	s.i++
	s.ws()
	if s.peek() == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		ks := s.i
		esc, ok := s.str()
		if !ok {
			return false
		}
		key := s.b[ks+1 : s.i-1]
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		vs := s.i
		if !s.value() {
			return false
		}
		if len(names) > 0 {
			note(names, spans, key, esc, vs, s.i)
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

func note(names []string, spans []span, key []byte, esc bool, vs, ve int) {
	k := string(key) // no allocation when only compared
	if esc {
		var u string
		if json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &u) != nil {
			return
		}
		k = u
	}
	for i, n := range names {
		if n == k {
			spans[i] = span{vs, ve, true}
		}
	}
}

func (s *scanner) value() bool {
	switch c := s.peek(); {
	case c == '{':
		return s.objectMembers(nil, nil)
	case c == '[':
		return s.array()
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

func (s *scanner) array() bool {
	if s.depth++; s.depth > maxDepth {
		return false
	}
	s.i++
	s.ws()
	if s.peek() == ']' {
		s.i++
		s.depth--
		return true
	}
	for {
		if !s.value() {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// str scans a string at s.i; esc reports a backslash or a non-ASCII byte
// in it (which a decoder may rewrite: invalid UTF-8 becomes U+FFFD).
func (s *scanner) str() (esc, ok bool) {
	if s.peek() != '"' {
		return false, false
	}
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return esc, true
		case c < 0x20:
			return false, false
		case c >= 0x80:
			esc = true
		case c == '\\':
			esc = true
			if !s.escape() {
				return false, false
			}
			continue
		}
		s.i++
	}
	return false, false
}

func (s *scanner) escape() bool {
	s.i++ // the backslash
	switch s.peek() {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i++
		return true
	case 'u':
		if len(s.b)-s.i < 5 {
			return false
		}
		for _, h := range s.b[s.i+1 : s.i+5] {
			if !isHex(h) {
				return false
			}
		}
		s.i += 5
		return true
	}
	return false
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// number scans a number; like encoding/json decoding into any, it refuses
// one beyond float64's range.
func (s *scanner) number() bool {
	start := s.i
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return false
	}
	exp := false
	if s.peek() == '.' {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		exp = true
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	if exp || s.i-start > 300 { // only these can overflow a float64
		_, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
		return err == nil
	}
	return true
}

func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// spanNumber is the span's value as a finite float64, if it is a number.
func spanNumber(doc []byte, sp span) (float64, bool) {
	if !sp.found {
		return 0, false
	}
	raw := doc[sp.start:sp.end]
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	return f, err == nil
}

// spanValue is the span's value as Record.Fields would hold it (nil when
// missing).
func spanValue(doc []byte, sp span) any {
	if !sp.found {
		return nil
	}
	raw := doc[sp.start:sp.end]
	if f, ok := spanNumber(doc, sp); ok {
		return f
	}
	if raw[0] == '"' && !hasByte(raw, '\\') && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1])
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	return v
}

func hasByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}
