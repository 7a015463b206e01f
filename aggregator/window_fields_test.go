package aggregator

import (
	"reflect"
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
