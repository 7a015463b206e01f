package gateway

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
)

func TestJSONValue(t *testing.T) {
	for in, want := range map[string]string{
		`{"v": 12345678901234567890, "a": "<&>"}`: `{"v":12345678901234567890,"a":"<&>"}`,
		` [1, 2]`:          `[1,2]`,
		`23.5`:             `23.5`,
		`true`:             `true`,
		`"text"`:           `"InRleHQi"`, // a JSON string: base64, so a string always means base64
		`null`:             `"bnVsbA=="`,
		`23.5 volts`:       `"MjMuNSB2b2x0cw=="`,
		"":                 `""`,
		"\xff\x00":         `"/wA="`,
		`{"unterminated":`: `"eyJ1bnRlcm1pbmF0ZWQiOg=="`,
	} {
		if got := string(JSONValue([]byte(in))); got != want {
			t.Errorf("JSONValue(%q) = %s, want %s", in, got, want)
		}
	}
}

// Apart from the values it shows as JSON, the REST form of a ReadResponse
// is protojson's: the same names, number forms and times, every field. A
// field added to the messages and not to marshalReadResponse fails here.
func TestReadResponseJSONIsProtojsonsButForValues(t *testing.T) {
	ts := timestamppb.New(time.Date(2026, 11, 29, 10, 0, 0, 123_000_000, time.UTC))
	resp := &tributaryv1.ReadResponse{
		Records: []*tributaryv1.StoredRecord{
			{Offset: 7, Key: "meter-1", Value: []byte{0xff}, Time: ts, Headers: map[string]string{"unit": "V"}},
			{Offset: 8, Value: []byte("text")}, // no key, time or headers
		},
		Gaps:        []*tributaryv1.Gap{{FromOffset: 1, ToOffset: 7, Count: 6, Reason: "max_bytes", MinTime: ts, MaxTime: ts, DropTime: ts}},
		NextOffset:  9,
		FirstOffset: 1, FromOffsetExpired: true, EndOffset: 12,
	}
	ours, err := marshalReadResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(ours, &a); err != nil {
		t.Fatalf("%v: %s", err, ours)
	}
	if err := json.Unmarshal(theirs, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("ours:\n%s\nprotojson:\n%s", ours, theirs)
	}

	// An empty answer too.
	ours, _ = marshalReadResponse(&tributaryv1.ReadResponse{})
	theirs, _ = protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(&tributaryv1.ReadResponse{})
	_ = json.Unmarshal(ours, &a)
	_ = json.Unmarshal(theirs, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("empty: ours %s, protojson %s", ours, theirs)
	}
}
