package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
)

// The REST ingest API's JSON is decoded here with encoding/json rather than
// protojson, for the record value: in proto it is bytes, and a REST client
// sends either a JSON object, stored verbatim (compacted), or a base64
// string. Going through google.protobuf.Struct instead would turn every
// number into a float64 (12345678901234567890 would not survive) and sort
// the object's keys. The same record decoder reads each NDJSON line.

// errInvalid marks a request that can never be stored as sent: HTTP 400,
// gRPC INVALID_ARGUMENT.
var errInvalid = errors.New("invalid request")

// fieldError is a problem with one field of a request, named by its path:
// "records[3].value", "time", "body".
type fieldError struct {
	path string
	msg  string
}

func (e *fieldError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return e.path + ": " + e.msg
}

func (e *fieldError) Unwrap() error { return errInvalid }

func invalid(path, format string, args ...any) error {
	return &fieldError{path: path, msg: fmt.Sprintf(format, args...)}
}

// under puts a fieldError at a path inside prefix: "value" under
// "records[3]" is "records[3].value"; other errors are returned as they are.
func under(prefix string, err error) error {
	var fe *fieldError
	if !errors.As(err, &fe) {
		return err
	}
	p := prefix
	if fe.path != "" {
		p += "." + fe.path
	}
	return &fieldError{path: p, msg: fe.msg}
}

const recordFields = "key, value, time, headers"

// decodeAppendJSON decodes a REST Append body, {"records": [...]}, into req.
// A "stream" field is allowed, as grpc-gateway allows it, and the URL's
// stream replaces it.
func decodeAppendJSON(data []byte, req *tributaryv1.AppendRequest) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return invalid("body", `empty; want {"records": [{"value": {...}}, ...]}`)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		return invalid("body", `want a JSON object {"records": [...]}%s`, jsonProblem(err))
	}
	for _, k := range sortedKeys(top) {
		if k != "records" && k != "stream" {
			return invalid("body", "unknown field %q; want records", k)
		}
	}
	if s, ok := top["stream"]; ok {
		if err := json.Unmarshal(s, &req.Stream); err != nil {
			return invalid("stream", "must be a string")
		}
	}
	raw, ok := top["records"]
	if !ok {
		return invalid("records", "missing; want a list of records")
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return invalid("records", "must be a list of record objects")
	}
	req.Records = make([]*tributaryv1.Record, len(list))
	for i, r := range list {
		rec, err := decodeRecordJSON(r)
		if err != nil {
			return under(fmt.Sprintf("records[%d]", i), err)
		}
		req.Records[i] = rec
	}
	return nil
}

// decodeRecordJSON decodes one record object: {"key": "meter-1",
// "value": {...} or "base64", "time": "RFC 3339" or Unix ms, "headers":
// {"name": "value"}}. Only value is required.
func decodeRecordJSON(data []byte) (*tributaryv1.Record, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return nil, invalid("", "want a record object with the fields %s%s", recordFields, jsonProblem(err))
	}
	rec := &tributaryv1.Record{}
	for _, k := range sortedKeys(obj) {
		switch k {
		case "key", "value", "time", "headers":
		default:
			return nil, invalid("", "unknown field %q; a record has %s", k, recordFields)
		}
	}
	if raw, ok := obj["key"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &rec.Key); err != nil {
			return nil, invalid("key", "must be a string")
		}
	}
	raw, ok := obj["value"]
	if !ok || isNull(raw) {
		return nil, invalid("value", "missing; must be a JSON object or a base64 string")
	}
	v, err := decodeValue(raw)
	if err != nil {
		return nil, err
	}
	rec.Value = v
	if raw, ok := obj["time"]; ok && !isNull(raw) {
		t, err := decodeTime(raw)
		if err != nil {
			return nil, invalid("time", "%v", err)
		}
		rec.Time = timestamppb.New(t)
	}
	if raw, ok := obj["headers"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &rec.Headers); err != nil {
			return nil, invalid("headers", "must be an object whose values are strings")
		}
	}
	return rec, nil
}

// decodeValue keeps a JSON object as its compacted bytes and decodes a
// string as base64.
func decodeValue(raw json.RawMessage) ([]byte, error) {
	switch raw[0] {
	case '{':
		var b bytes.Buffer
		b.Grow(len(raw))
		if err := json.Compact(&b, raw); err != nil {
			return nil, invalid("value", "%v", err)
		}
		return b.Bytes(), nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, invalid("value", "must be a JSON object or a base64 string")
		}
		v, err := decodeBase64(s)
		if err != nil {
			return nil, invalid("value", "must be a JSON object or a base64 string: %v", err)
		}
		return v, nil
	}
	return nil, invalid("value", "must be a JSON object or a base64 string")
}

// decodeBase64 takes the standard or URL-safe alphabet, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	return enc.DecodeString(s)
}

// The times a spool can store: Unix nanoseconds in an int64.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// decodeTime reads an RFC 3339 string or a number of Unix milliseconds.
func decodeTime(raw json.RawMessage) (time.Time, error) {
	const want = "must be an RFC 3339 time or a number of Unix milliseconds"
	var t time.Time
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return t, errors.New(want)
		}
		var err error
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return t, fmt.Errorf("%s: %q", want, s)
		}
	} else {
		ns, inRange, ok := parseMillis(string(raw))
		if !ok {
			return t, errors.New(want)
		}
		t = time.Unix(0, ns)
		if !inRange {
			t = maxTime.Add(time.Hour) // reported below
		}
	}
	return t, checkTime(t)
}

// parseMillis reads a JSON number of Unix milliseconds as Unix nanoseconds:
// exactly when written in decimals (1764410400123, 1764410400123.5), through
// a float64 with an exponent (1.7644104e12). inRange is false for a number
// whose nanoseconds do not fit in an int64; ok is false for a non-number.
func parseMillis(s string) (ns int64, inRange, ok bool) {
	const lo, hi = math.MinInt64 / 1_000_000, math.MaxInt64 / 1_000_000 // ms that fit in int64 ns
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	ms, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || strings.ContainsAny(frac, "eE") { // an exponent, or too many digits
		if f >= lo && f <= hi {
			return int64(f * 1e6), true, true
		}
		return 0, false, true
	}
	if ms < lo || ms > hi {
		return 0, false, true
	}
	if len(frac) > 6 {
		frac = frac[:6] // below a nanosecond
	}
	var sub int64
	if frac != "" {
		sub, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	if strings.HasPrefix(whole, "-") {
		sub = -sub
	}
	ns = ms*1_000_000 + sub
	if (sub < 0 && ns > ms*1_000_000) || (sub > 0 && ns < ms*1_000_000) {
		return 0, false, true // past the edge of the range
	}
	return ns, true, true
}

// checkTime refuses a time the spool cannot store.
func checkTime(t time.Time) error {
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("must be between %s and %s", minTime.UTC().Format(time.RFC3339), maxTime.UTC().Format(time.RFC3339))
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// jsonProblem says where encoding/json found a syntax error, in
// parentheses; "" for none or another kind of error (a JSON value of the
// wrong kind), which the caller's message covers.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf(" (invalid JSON at byte %d: %v)", se.Offset, se)
	}
	return ""
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
