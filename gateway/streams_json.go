package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
)

// restMarshaler is the REST gateway's JSON marshaler (next) except for a
// ReadResponse, whose record values are shown as JSON where they are JSON
// (see JSONValue) rather than always as base64, as protojson would. The
// rest of that answer is written as protojson writes it (field names,
// uint64 as strings, RFC 3339 times, every field present); a test holds the
// two to the same output.
type restMarshaler struct{ runtime.Marshaler }

func (m restMarshaler) Marshal(v any) ([]byte, error) {
	if r, ok := v.(*tributaryv1.ReadResponse); ok {
		return marshalReadResponse(r)
	}
	return m.Marshaler.Marshal(v)
}

// JSONValue is how a record value is shown in JSON: verbatim (compacted)
// when it is a JSON object, array, number or boolean; otherwise (a JSON
// string, null, text, binary, empty) as a base64 string, so that a JSON
// string always means base64 and never a value of its own.
func JSONValue(v []byte) json.RawMessage {
	t := bytes.TrimLeft(v, " \t\r\n")
	if len(t) > 0 && t[0] != '"' && t[0] != 'n' && json.Valid(t) {
		var b bytes.Buffer
		if json.Compact(&b, t) == nil {
			return b.Bytes()
		}
	}
	out, _ := json.Marshal(base64.StdEncoding.EncodeToString(v)) // a string: cannot fail
	return out
}

// The JSON of ReadResponse and its parts, as protojson names the fields.
type (
	readJSON struct {
		Records           []recordJSON      `json:"records"`
		Gaps              []json.RawMessage `json:"gaps"` // as protojson writes them
		NextOffset        uint64            `json:"nextOffset,string"`
		FirstOffset       uint64            `json:"firstOffset,string"`
		FromOffsetExpired bool              `json:"fromOffsetExpired"`
		EndOffset         uint64            `json:"endOffset,string"`
	}
	recordJSON struct {
		Offset  uint64            `json:"offset,string"`
		Key     string            `json:"key"`
		Value   json.RawMessage   `json:"value"`
		Time    json.RawMessage   `json:"time"`
		Headers map[string]string `json:"headers"`
	}
)

var protoJSON = protojson.MarshalOptions{EmitUnpopulated: true}

func marshalReadResponse(r *tributaryv1.ReadResponse) ([]byte, error) {
	out := readJSON{Records: make([]recordJSON, len(r.GetRecords())), Gaps: make([]json.RawMessage, len(r.GetGaps())),
		NextOffset: r.GetNextOffset(), FirstOffset: r.GetFirstOffset(), FromOffsetExpired: r.GetFromOffsetExpired(),
		EndOffset: r.GetEndOffset()}
	for i, g := range r.GetGaps() {
		b, err := protoJSON.Marshal(g)
		if err != nil {
			return nil, err
		}
		out.Gaps[i] = b
	}
	for i, rec := range r.GetRecords() {
		t := json.RawMessage("null")
		if rec.GetTime() != nil {
			var err error
			if t, err = protoJSON.Marshal(rec.GetTime()); err != nil {
				return nil, err
			}
		}
		h := rec.GetHeaders()
		if h == nil {
			h = map[string]string{}
		}
		out.Records[i] = recordJSON{Offset: rec.GetOffset(), Key: rec.GetKey(), Value: JSONValue(rec.GetValue()), Time: t, Headers: h}
	}
	// Without HTML escaping, which would rewrite <, > and & inside the
	// values kept verbatim.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
