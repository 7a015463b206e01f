package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tributary-io/tributary/spool"
)

// Route maps MQTT topics to a stream. A topic template is a list of levels
// separated by '/': a literal, "{name}" (one level, captured), "+" (one
// level, not captured) or, last, "#" (the remaining levels).
type Route struct {
	// Topic, e.g. "sensors/{site}/{device}/{metric}".
	Topic string
	// Stream the records go to.
	Stream string
	// Key is a template of captures, e.g. "{device}"; "" keys by topic.
	Key string
	// Format is "raw" (the payload as is; the default) or "json" (the
	// payload must be a JSON object; others are refused).
	Format string
	// TimeField, for json, names a top-level field holding the event time
	// as an RFC 3339 string or Unix milliseconds; without it, or when the
	// field is absent, the record gets its arrival time.
	TimeField string
}

// Formats of a route's payload.
const (
	FormatRaw  = "raw"
	FormatJSON = "json"
)

// route is a compiled Route.
type route struct {
	Route
	levels   []string // literal, "{name}", "+" or "#"
	captures int      // how many levels are {name}
	key      []keyPart
}

type keyPart struct {
	literal string
	capture string // set for a {name} part
}

// CheckRoute reports what is wrong with a route, as New would.
func CheckRoute(r Route) error {
	_, err := compileRoute(r)
	return err
}

func compileRoute(r Route) (*route, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("route %q: %s", r.Topic, fmt.Sprintf(format, args...))
	}
	if r.Stream == "" {
		return nil, bad("stream is required")
	}
	switch r.Format {
	case "":
		r.Format = FormatRaw
	case FormatRaw, FormatJSON:
	default:
		return nil, bad("format must be raw or json, got %q", r.Format)
	}
	if r.TimeField != "" && r.Format != FormatJSON {
		return nil, bad("time_field needs format json")
	}
	c := &route{Route: r, levels: strings.Split(r.Topic, "/")}
	names := map[string]bool{}
	for i, l := range c.levels {
		switch {
		case l == "#" && i != len(c.levels)-1:
			return nil, bad("# must be the last level")
		case isCapture(l):
			name := l[1 : len(l)-1]
			if names[name] || name == "topic" {
				return nil, bad("capture {%s} is used twice, or is named topic (the header every record has)", name)
			}
			names[name] = true
			c.captures++
		case strings.ContainsAny(l, "+#{}") && l != "+" && l != "#":
			return nil, bad("level %q: want a literal, {name}, + or #", l)
		}
	}
	key, err := compileKey(r.Key, names)
	if err != nil {
		return nil, bad("%v", err)
	}
	c.key = key
	return c, nil
}

func isCapture(l string) bool {
	return len(l) > 2 && l[0] == '{' && l[len(l)-1] == '}' && !strings.ContainsAny(l[1:len(l)-1], "{}/+#")
}

// compileKey splits a key template into literals and captures, each of
// which must be a capture of the topic.
func compileKey(tmpl string, names map[string]bool) ([]keyPart, error) {
	var parts []keyPart
	for tmpl != "" {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			return append(parts, keyPart{literal: tmpl}), nil
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("key %q: unclosed {", tmpl)
		}
		name := tmpl[i+1 : i+j]
		if !names[name] {
			return nil, fmt.Errorf("key uses {%s}, which the topic does not capture", name)
		}
		if i > 0 {
			parts = append(parts, keyPart{literal: tmpl[:i]})
		}
		parts = append(parts, keyPart{capture: name})
		tmpl = tmpl[i+j+1:]
	}
	return parts, nil
}

// match reports whether topic fits the route and returns its captures as
// headers, in template order, then the "topic" header. As in MQTT, "a/#"
// also matches "a". The header values share one copy of the topic: a
// publish costs two allocations here, whatever the number of captures.
func (r *route) match(topic string) ([]spool.Header, bool) {
	if strings.HasPrefix(topic, "$") && (r.levels[0] == "+" || r.levels[0] == "#" || isCapture(r.levels[0])) {
		return nil, false // as in MQTT (4.7.2), a wildcard first level does not match $ topics
	}
	if !r.walk(topic, nil, nil) {
		return nil, false
	}
	tb := []byte(topic)
	hs := make([]spool.Header, 0, r.captures+1)
	r.walk(topic, tb, &hs)
	return append(hs, spool.Header{Key: "topic", Value: tb}), true
}

// walk matches topic level by level, without allocating; with hs, it
// appends each capture as a header whose value is a slice of tb, the
// topic's bytes.
func (r *route) walk(topic string, tb []byte, hs *[]spool.Header) bool {
	start, done := 0, false
	for _, l := range r.levels {
		if l == "#" {
			return true
		}
		if done {
			return false // fewer levels than the template
		}
		end := strings.IndexByte(topic[start:], '/')
		if end < 0 {
			end, done = len(topic), true
		} else {
			end += start
		}
		part := topic[start:end]
		switch {
		case isCapture(l):
			if hs != nil {
				*hs = append(*hs, spool.Header{Key: l[1 : len(l)-1], Value: tb[start:end:end]})
			}
		case l != "+" && l != part:
			return false
		}
		start = end + 1
	}
	return done
}

// makeKey builds the record key from the captures, or is the topic without
// a key template. A key that is one capture, or the topic, shares the
// headers' bytes.
func (r *route) makeKey(topic string, hs []spool.Header) []byte {
	if len(r.key) == 0 {
		if n := len(hs); n > 0 && hs[n-1].Key == "topic" {
			return hs[n-1].Value
		}
		return []byte(topic)
	}
	if len(r.key) == 1 && r.key[0].capture != "" {
		for _, h := range hs {
			if h.Key == r.key[0].capture {
				return h.Value
			}
		}
	}
	var b []byte
	for _, p := range r.key {
		if p.capture == "" {
			b = append(b, p.literal...)
			continue
		}
		for _, h := range hs {
			if h.Key == p.capture {
				b = append(b, h.Value...)
			}
		}
	}
	return b
}

// errPayload marks a payload that the route's format refuses.
var errPayload = errors.New("payload does not fit the route's format")

// record turns a publish on a matching topic into a record.
func (r *route) record(topic string, payload []byte, hs []spool.Header, now time.Time) (spool.Record, error) {
	rec := spool.Record{
		Key:     r.makeKey(topic, hs),
		Value:   payload,
		Time:    now,
		Headers: hs, // the topic header included
	}
	if r.Format != FormatJSON {
		return rec, nil
	}
	if r.TimeField == "" { // check, without building the object
		if !validObject(payload) {
			return rec, fmt.Errorf("%w: want a JSON object", errPayload)
		}
		return rec, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(payload, &obj); err != nil {
		return rec, fmt.Errorf("%w: want a JSON object: %w", errPayload, err)
	}
	if raw, ok := obj[r.TimeField]; ok && string(raw) != "null" {
		t, err := decodeTime(raw)
		if err != nil {
			return rec, fmt.Errorf("%w: field %q: %w", errPayload, r.TimeField, err)
		}
		rec.Time = t
	}
	return rec, nil
}
