package ingest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// wantObject is what the json route accepted before validObject: a JSON
// object by json.Valid.
func wantObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(b)
}

var jsonCases = []string{
	`{}`, ` {} `, "\t{\n}\r\n", `{"a":1}`, `{"a":[1,2,{"b":null}],"c":"\u00e9\n"}`,
	`{"v":-0.5e+10,"w":0,"x":1E3,"y":true,"z":false}`, `{"a":"` + "\xff\xfe" + `"}`,
	`{"device":"m-0042","site":"plant-01","seq":123,"ts":1764410412300,"v":239.21,"unit":"V","st":"ok"}`,
	``, ` `, `[]`, `"s"`, `1`, `null`, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`,
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":1e+}`, `{"a":tru}`, `{"a":nul}`,
	`{"a":"\x"}`, `{"a":"\u12g4"}`, `{"a":"` + "\x01" + `"}`, `{"a":"open}`, `{} {}`, `{}x`, `{"a":[1,2}`,
	`{"a":[1,2]]}`, `{1:2}`, `{"a":[,1]}`, `{"a":[1,]}`, `{"a":"\u00e"}`,
	`{"a":` + strings.Repeat("[", 10000-1) + strings.Repeat("]", 10000-1) + `}`,
	`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	`{"a":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`,
}

func TestValidObjectAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range jsonCases {
		if got, want := validObject([]byte(c)), wantObject([]byte(c)); got != want {
			t.Errorf("validObject(%.60q) = %v, json.Valid says %v", c, got, want)
		}
	}
}

// FuzzValidObject holds validObject to encoding/json's answer.
func FuzzValidObject(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validObject(b), wantObject(b); got != want {
			t.Fatalf("validObject(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

func BenchmarkValidObject(b *testing.B) {
	p := []byte(`{"device":"m-0042","site":"plant-01","seq":123,"ts":1764410412300,"v":239.21,"i":14.21,"p":2937.63,"q":309.21,"f":49.91,"pf":0.971,"unit":"V","st":"ok"}`)
	b.Run("validObject", func(b *testing.B) {
		for range b.N {
			validObject(p)
		}
		b.SetBytes(int64(len(p)))
	})
	b.Run("json.Valid", func(b *testing.B) {
		for range b.N {
			wantObject(p)
		}
		b.SetBytes(int64(len(p)))
	})
}
