package aggregator

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

var scanNames = []string{"v", "site", "a\"b", "é", "n", ""}

// FuzzScanFieldsMatchesFields holds scanFields to Record.Fields: the same
// documents accepted, and the same value for every name.
func FuzzScanFieldsMatchesFields(f *testing.F) {
	for _, s := range []string{
		`{"v":1.5,"site":"north"}`, `{"v":-0,"v":2e3}`, `{"v":1e400}`, `{"v":"x"} x`, ` {"v" : [1,{"a":[]}] } `,
		`{"site":"a\u00e9\n","\u00e9":true,"a\"b":null}`, `{"é":"\xff"}`, `{"n":01}`, `{"n":1.}`, `{"n":-}`, `[1]`,
		`null`, `{}`, `{"v":1,}`, `{"v":"\ud800"}`, `{"":{"v":1}}`, "{\"v\":\"a\x01\"}", `{"v":1e-400}`, `{"v":tru}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		spans := make([]span, len(scanNames))
		ok := scanFields(doc, scanNames, spans)
		fields, want := (&Record{Value: doc}).Fields()
		if ok != want {
			t.Fatalf("%q: scanFields %v, Fields %v", doc, ok, want)
		}
		if !ok {
			return
		}
		for i, n := range scanNames {
			got, exp := spanValue(doc, spans[i]), fields[n]
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("%q: %q = %#v, Fields has %#v", doc, n, got, exp)
			}
			gf, gok := spanNumber(doc, spans[i])
			ef, eok := number(exp)
			if gf != ef || gok != eok {
				t.Errorf("%q: %q number %v %v, want %v %v", doc, n, gf, gok, ef, eok)
			}
		}
	})
}

// FuzzJSONFormatsMatchEncodingJSON holds the output's string and number
// formatting to encoding/json's (without HTML escaping), so the output
// format is the one a Go program would write.
func FuzzJSONFormatsMatchEncodingJSON(f *testing.F) {
	f.Add("tab\tnl\n\x01\xff\"\\é", 1e21)
	f.Add("", 1e-7)
	f.Add("<&>\u2028\u2029", math.Copysign(0, -1))
	f.Fuzz(func(t *testing.T, s string, x float64) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSuffix(b.String(), "\n")
		if got := string(appendJSONString(nil, s)); got != want {
			t.Errorf("string %q: %s, encoding/json %s", s, got, want)
		}
		jf, err := json.Marshal(x)
		if err != nil {
			jf = []byte("null")
		}
		if got := string(appendJSONFloat(nil, x)); got != string(jf) {
			t.Errorf("float %v: %s, encoding/json %s", x, got, jf)
		}
	})
}
