package ingest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/spool"
)

func TestDecodeValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte
		err  string
	}{
		{in: `{ "b" : 12345678901234567890 , "a" : [ 1.0e3 , "x\u0041" ] }`, want: []byte(`{"b":12345678901234567890,"a":[1.0e3,"x\u0041"]}`)},
		{in: `"AP8="`, want: []byte{0, 255}},
		{in: `"AP8"`, want: []byte{0, 255}},
		{in: `"_-8"`, want: []byte{255, 239}}, // URL-safe
		{in: `"/+8="`, want: []byte{255, 239}},
		{in: `""`, want: []byte{}},
		{in: `"a"`, err: "illegal base64 data"},
		{in: `"+-"`, err: "illegal base64 data"}, // alphabets mixed
		{in: `[1]`, err: "must be a JSON object or a base64 string"},
		{in: `12`, err: "must be a JSON object or a base64 string"},
		{in: `true`, err: "must be a JSON object or a base64 string"},
	} {
		got, err := decodeValue(json.RawMessage(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "value: ") {
				t.Errorf("%s: got %q, %v; want an error about value with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestDecodeTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: `"2026-11-29T10:00:00Z"`, want: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)},
		{in: `"2026-11-29T11:00:00.5+01:00"`, want: time.Date(2026, 11, 29, 10, 0, 0, 5e8, time.UTC)},
		{in: `1764410400123`, want: time.UnixMilli(1764410400123)},
		{in: `-1`, want: time.UnixMilli(-1)},
		{in: `1764410400123.5`, want: time.Unix(0, 1764410400123500000)},
		{in: `1.7644104e12`, want: time.UnixMilli(1764410400000)},
		{in: `9223372036854`, want: time.UnixMilli(9223372036854)},
		{in: `9223372036855`, err: true},
		{in: `-9223372036854.775808`, want: time.Unix(0, math.MinInt64)},
		{in: `-9223372036854.775809`, err: true},
		{in: `9223372036854.775807`, want: time.Unix(0, math.MaxInt64)},
		{in: `0.0000019`, want: time.Unix(0, 1)},
		{in: `-0.5`, want: time.Unix(0, -500000)},
		{in: `1e300`, err: true},
		{in: `"3000-01-01T00:00:00Z"`, err: true},
		{in: `"2026-11-29"`, err: true},
		{in: `true`, err: true},
		{in: `{}`, err: true},
	} {
		got, err := decodeTime(json.RawMessage(tc.in))
		if tc.err != (err != nil) || (!tc.err && !got.Equal(tc.want)) {
			t.Errorf("%s: got %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// A body whose records are fine but one names that one.
func TestDecodeAppendJSONNamesTheField(t *testing.T) {
	for body, want := range map[string]string{
		`{"records":[{"value":{}},{"value":{},"key":1}]}`:       "records[1].key: must be a string",
		`{"records":[{"value":{}},{"value":{},"headers":[]}]}`:  "records[1].headers: must be an object whose values are strings",
		`{"records":[{"value":{}},{"value":{},"time":"noon"}]}`: `records[1].time: must be an RFC 3339 time or a number of Unix milliseconds: "noon"`,
		`{"records":[{"value":{}}, 7]}`:                         "records[1]: want a record object with the fields key, value, time, headers",
		`{"records":{"value":{}}}`:                              "records: must be a list of record objects",
		`{"record":[]}`:                                         `body: unknown field "record"; want records`,
		`{"stream":7,"records":[]}`:                             "stream: must be a string",
		`{}`:                                                    "records: missing; want a list of records",
		`[]`:                                                    `body: want a JSON object {"records": [...]}`,
		`null`:                                                  `body: want a JSON object {"records": [...]}`,
		`{"records":[{"value":{}}]} x`:                          `body: want a JSON object {"records": [...]} (invalid JSON at byte 28: invalid character 'x' after top-level value)`,
		" \n\t":                                                 `body: empty; want {"records": [{"value": {...}}, ...]}`,
		`{"records":[{"value":"a","key":"k","time":1,"extra":0}]}`: `records[0]: unknown field "extra"; a record has key, value, time, headers`,
	} {
		err := decodeAppendJSON([]byte(body), &tributaryv1.AppendRequest{})
		if err == nil || err.Error() != want || !errors.Is(err, errInvalid) {
			t.Errorf("%s:\n got %v\nwant %s", body, err, want)
		}
	}
	var req tributaryv1.AppendRequest
	if err := decodeAppendJSON([]byte(`{"stream":"x","records":[{"value":{},"key":null,"time":null,"headers":null}]}`), &req); err != nil || req.GetStream() != "x" || len(req.GetRecords()) != 1 {
		t.Fatalf("got %v, %v", &req, err)
	}
}

// The marshaler decodes an Append body itself, through both of the ways
// grpc-gateway may call it, and hands every other message to JSONPb.
func TestRESTMarshaler(t *testing.T) {
	m := NewRESTMarshaler()
	body := `{"records":[{"value":{"n":12345678901234567890}}]}`
	var a, b tributaryv1.AppendRequest
	if err := m.Unmarshal([]byte(body), &a); err != nil {
		t.Fatal(err)
	}
	if err := m.NewDecoder(strings.NewReader(body)).Decode(&b); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&a, &b) || string(a.GetRecords()[0].GetValue()) != `{"n":12345678901234567890}` {
		t.Fatalf("got %v and %v", &a, &b)
	}
	var info tributaryv1.GetNodeInfoResponse
	if err := m.NewDecoder(strings.NewReader(`{"site":"plant-01","unknown":1}`)).Decode(&info); err != nil || info.GetSite() != "plant-01" {
		t.Fatalf("other messages: %v, %v", &info, err)
	}
	out, err := m.Marshal(&tributaryv1.AppendResponse{Offsets: []*tributaryv1.RecordOffset{{}}})
	if want := `{"offsets":[{"partition":0,"offset":"0"}]}`; err != nil || compact(out) != want { // protojson spaces at random
		t.Fatalf("Marshal = %s, %v; want %s", out, err, want)
	}
}

func compact(b []byte) string {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return err.Error()
	}
	return out.String()
}

func TestReadLine(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader("a\n"+strings.Repeat("b", 40)+"\nccc"), 16)
	var lines []string
	for {
		l, err := readLine(br, nil, 50)
		lines = append(lines, string(l))
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
	}
	if want := []string{"a\n", strings.Repeat("b", 40) + "\n", "ccc"}; strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("lines %q, want %q", lines, want)
	}
	br = bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", 100)+"\n"), 16)
	if _, err := readLine(br, nil, 50); !errors.Is(err, spool.ErrTooLarge) {
		t.Fatalf("a long line: %v, want ErrTooLarge", err)
	}
}

// encodeRecordJSON writes a record as a REST client would: value base64.
func encodeRecordJSON(key string, value []byte, tm time.Time, headers map[string]string) []byte {
	obj := map[string]any{"value": base64.StdEncoding.EncodeToString(value), "time": tm.Format(time.RFC3339Nano)}
	if key != "" {
		obj["key"] = key
	}
	if len(headers) > 0 {
		obj["headers"] = headers
	}
	b, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	return b
}

var fuzzSeeds = []string{
	`{"records":[{"key":"meter-1","value":{"v":229.8}}]}`,
	`{"records":[{"value":"AAEC/w==","time":1764410400123,"headers":{"a":"b"}},{"value":"_-8","time":"2026-11-29T10:00:00.5+01:00"}]}`,
	`{"records":[{"value":{"n":12345678901234567890,"s":"\u00e9\ud800"}},{"value":{}}]}`,
	`{"records":[{"value":[1]}]}`,
	`{"records":[{"value":{},"time":-9223372036854.775}]}`,
	`{"stream":"x","records":[]}`,
	`{"records":[{"value":"","headers":{"":""}}]}`,
	`{"records":[{"value":"a=="}]}`,
}

// FuzzDecodeAppendJSON feeds untrusted bodies to the REST decoder: it must
// not panic, must refuse with an error that names a field, and what it
// accepts must survive being written back out (value as base64) and read
// again unchanged.
func FuzzDecodeAppendJSON(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req tributaryv1.AppendRequest
		if err := decodeAppendJSON(body, &req); err != nil {
			if !errors.Is(err, errInvalid) || !strings.Contains(err.Error(), ": ") {
				t.Fatalf("error %q does not name a field", err)
			}
			return
		}
		var out bytes.Buffer
		out.WriteString(`{"records":[`)
		for i, r := range req.GetRecords() {
			if i > 0 {
				out.WriteByte(',')
			}
			tm := time.Unix(0, 0)
			if r.GetTime() != nil {
				tm = r.GetTime().AsTime()
			} else {
				r.Time = nil
			}
			enc := encodeRecordJSON(r.GetKey(), r.GetValue(), tm, r.GetHeaders())
			if r.GetTime() == nil { // keep it absent
				var m map[string]any
				_ = json.Unmarshal(enc, &m)
				delete(m, "time")
				enc, _ = json.Marshal(m)
			}
			out.Write(enc)
		}
		out.WriteString(`]}`)
		var back tributaryv1.AppendRequest
		if err := decodeAppendJSON(out.Bytes(), &back); err != nil {
			t.Fatalf("%s\nwritten back as %s\nis refused: %v", body, out.Bytes(), err)
		}
		back.Stream = req.GetStream()
		for i := range back.GetRecords() { // key "" is written as no key, which reads back as ""
			if len(back.Records[i].GetValue()) == 0 && len(req.Records[i].GetValue()) == 0 {
				back.Records[i].Value = req.Records[i].Value
			}
		}
		if !proto.Equal(&req, &back) {
			t.Fatalf("%s\ndecodes to %v\nwritten back as %s\ndecodes to %v", body, &req, out.Bytes(), &back)
		}
	})
}

// FuzzNDJSONLine feeds untrusted lines to the bulk endpoint's parser: it
// must not panic, must refuse with errInvalid (HTTP 400), and a record it
// accepts has a time the spool can store and survives being
// written back out and parsed again.
func FuzzNDJSONLine(f *testing.F) {
	for _, s := range []string{
		`{"key":"meter-1","value":{"v":229.8}}` + "\n",
		`{"value":"AAEC/w==","time":1764410400123,"headers":{"b":"1","a":"2"}}` + "\r\n",
		`  {"value":{"n":12345678901234567890}}  `,
		`{"value":7}`,
		`{"value":{},"time":"2262-04-11T23:47:16.854775807Z"}`,
		`{"value":{},"time":"2262-04-11T23:47:16.854775808Z"}`,
		`{"value":{},"headers":{"":"x"}}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := parseLine(line, now)
		if err != nil { // the answer names the line; a field, where it can
			if !errors.Is(err, errInvalid) || err.Error() == "" {
				t.Fatalf("error %q is not a refusal", err)
			}
			return
		}
		if checkTime(rec.Time) != nil {
			t.Fatalf("accepted a time the spool refuses: %v", rec.Time)
		}
		headers := map[string]string{}
		for _, h := range rec.Headers {
			headers[h.Key] = string(h.Value)
		}
		back, err := parseLine(encodeRecordJSON(string(rec.Key), rec.Value, rec.Time, headers), now)
		if err != nil {
			t.Fatalf("%s parses to %+v, which written back is refused: %v", line, rec, err)
		}
		if !bytes.Equal(back.Key, rec.Key) || !bytes.Equal(back.Value, rec.Value) || !back.Time.Equal(rec.Time) || len(back.Headers) != len(rec.Headers) {
			t.Fatalf("%s parses to %+v, written back and parsed again %+v", line, rec, back)
		}
		for i := range back.Headers {
			if back.Headers[i].Key != rec.Headers[i].Key || !bytes.Equal(back.Headers[i].Value, rec.Headers[i].Value) {
				t.Fatalf("headers %q, then %q", rec.Headers, back.Headers)
			}
		}
	})
}
