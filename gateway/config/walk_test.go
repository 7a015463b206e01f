package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The walker is tested on a shape richer than Config: lists of structs,
// maps of lists, pointers, sized integers and untagged fields, as later
// configs will have.
type testRoot struct {
	Enabled  bool                    `yaml:"enabled"`
	Ratio    float64                 `yaml:"ratio"`
	Retries  uint8                   `yaml:"retries"`
	Wait     time.Duration           `yaml:"wait"`
	Outputs  []testOutput            `yaml:"outputs"`
	Labels   map[string]string       `yaml:"labels"`
	Routes   map[string][]testOutput `yaml:"routes"`
	Matrix   [][]int64               `yaml:"matrix"`
	Hidden   string                  `yaml:"-"`
	Untagged string
}

type testOutput struct {
	Name    string            `yaml:"name"`
	Timeout Duration          `yaml:"timeout"`
	Headers map[string]string `yaml:"headers,omitempty"`
	Batch   *testBatch        `yaml:"batch"`
}

type testBatch struct {
	Size  Size  `yaml:"size"`
	Count int16 `yaml:"count"`
}

// walkYAML decodes src onto v and returns the walker and its errors as
// text, sorted.
func walkYAML(t *testing.T, src string, v any) (*walker, []string) {
	t.Helper()
	root, ferr := parseDocument([]byte(src))
	if ferr != nil {
		t.Fatalf("parse: %v", ferr)
	}
	w := newWalker()
	w.walk("", root, reflect.ValueOf(v).Elem())
	errs := slices.Clone(w.errs)
	sortErrors(errs)
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	return w, got
}

const goodTestRoot = `
enabled: yes
ratio: 0.5
retries: 3
wait: 1m30s
untagged: here
outputs:
  - name: kafka
    timeout: 5s
    headers: {x-site: plant-01, "a.b": c}
    batch: &batch
      size: 1MiB
      count: 100
  - name: file
    batch: *batch
labels:
  zone: north
routes:
  alerts:
    - name: pager
matrix: [[1, 2], [3]]
`

func TestWalkDecodes(t *testing.T) {
	v := testRoot{Labels: map[string]string{"keep": "me"}, Outputs: []testOutput{{Name: "dropped"}}}
	w, errs := walkYAML(t, goodTestRoot, &v)
	if errs != nil {
		t.Fatalf("errors: %q", errs)
	}
	batch := &testBatch{Size: MiB, Count: 100}
	want := testRoot{
		Enabled: true, Ratio: 0.5, Retries: 3, Wait: 90 * time.Second, Untagged: "here",
		Outputs: []testOutput{
			{Name: "kafka", Timeout: Duration(5 * time.Second), Headers: map[string]string{"x-site": "plant-01", "a.b": "c"}, Batch: batch},
			{Name: "file", Batch: batch},
		},
		Labels: map[string]string{"keep": "me", "zone": "north"},
		Routes: map[string][]testOutput{"alerts": {{Name: "pager"}}},
		Matrix: [][]int64{{1, 2}, {3}},
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("got  %+v\nwant %+v", v, want)
	}
	for path, line := range map[string]int{
		"enabled": 2, "outputs": 7, "outputs[0]": 8, "outputs[0].name": 8, "outputs[0].headers": 10,
		`outputs[0].headers["a.b"]`: 10, "outputs[0].batch.count": 13, "outputs[1].batch": 15,
		"routes.alerts[0].name": 20, "matrix[1][0]": 21,
	} {
		if got := w.lines[path]; got != line {
			t.Errorf("line of %s = %d, want %d", path, got, line)
		}
	}
}

func TestWalkErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		src  string
		want []string
	}{
		"unknown keys at every depth": {
			src: "enable: true\noutputs:\n  - name: a\n    batch: {sise: 1KiB}\nroutes:\n  x:\n    - nam: b\nhidden: x",
			want: []string{
				`1: enable: unknown key (did you mean "enabled"?); allowed here: enabled, ratio, retries, wait, outputs, labels, routes, matrix, untagged`,
				`4: outputs[0].batch.sise: unknown key (did you mean "size"?); allowed here: size, count`,
				`7: routes.x[0].nam: unknown key (did you mean "name"?); allowed here: name, timeout, headers, batch`,
				`8: hidden: unknown key; allowed here: enabled, ratio, retries, wait, outputs, labels, routes, matrix, untagged`,
			},
		},
		"bad scalars, all reported": {
			src: "enabled: maybe\nratio: half\nretries: 300\nwait: 5\noutputs:\n- batch:\n    count: 99999\n    size: 1XB\n  timeout: 1y\nmatrix: [[1, x]]",
			want: []string{
				`1: enabled: want true or false, got "maybe"`,
				`2: ratio: want a number, got "half"`,
				`3: retries: want an integer from 0 to 255, got "300"`,
				`4: wait: want a duration such as 30s, got "5"`,
				`7: outputs[0].batch.count: want an integer from -32768 to 32767, got "99999"`,
				`8: outputs[0].batch.size: invalid size "1XB": want a number of bytes with an optional unit B, KB, MB, GB, TB, KiB, MiB, GiB, TiB (e.g. 64KiB, 2GiB)`,
				`9: outputs[0].timeout: invalid duration "1y": want a number with a unit ns, us, ms, s, m, h, d (e.g. 30s, 168h, 7d)`,
				`10: matrix[0][1]: want an integer, got "x"`,
			},
		},
		"wrong kinds": {
			src: "enabled: [true]\noutputs: {name: a}\nlabels: [a]\nroutes:\n  x: {name: b}\nuntagged: {a: b}\nmatrix: [1]",
			want: []string{
				`1: enabled: want true or false, got a list`,
				`2: outputs: want a list, got a mapping`,
				`3: labels: want a mapping, got a list`,
				`5: routes.x: want a list, got a mapping`,
				`6: untagged: want a string, got a mapping`,
				`7: matrix[0]: want a list, got "1"`,
			},
		},
		"keys": {
			src: "labels:\n  a: 1\n  \"a.b\": [x]\n  a: 2\n  [k]: v\noutputs:\n  - name: a\n    <<: {name: b}\n    name: c",
			want: []string{
				`3: labels["a.b"]: want a string, got a list`,
				`4: labels.a: duplicate key (first at line 2)`,
				`5: labels: a key must be a plain string, got a list`,
				`8: outputs[0]: merge keys (<<) are not supported; write the keys out`,
				`9: outputs[0].name: duplicate key (first at line 7)`,
			},
		},
		"missing values": {
			src:  "ratio:\noutputs:\n  - name: ~\n    batch:\n",
			want: []string{`1: ratio: missing value; write one, or delete the key to use the default`, `3: outputs[0].name: missing value; write one, or delete the key to use the default`},
		},
		"alias to itself": {
			src:  "matrix: &m [*m]",
			want: []string{`1: matrix[0][0]: alias *m refers to a value that contains it`},
		},
		"alias bomb": {
			src:  "matrix: [&a [" + strings.Repeat("1,", 999) + "1]" + strings.Repeat(", *a", 200) + "]",
			want: []string{`1: matrix[99][799]: aliases expand to more than 100000 values; write the values out`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var v testRoot
			_, got := walkYAML(t, tc.src, &v)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestWalkNull checks what a key with no value does: a struct keeps its
// values, a pointer, map or list becomes nil.
func TestWalkNull(t *testing.T) {
	v := testRoot{Labels: map[string]string{"a": "b"}, Matrix: [][]int64{{1}}, Outputs: []testOutput{{Name: "x", Batch: &testBatch{Count: 1}}}}
	_, errs := walkYAML(t, "labels:\nmatrix: ~\noutputs:\n  - batch: null\n", &v)
	want := testRoot{Outputs: []testOutput{{}}}
	if errs != nil || !reflect.DeepEqual(v, want) {
		t.Errorf("got %+v, %q; want %+v", v, errs, want)
	}
}

func TestParentPathAndLineOf(t *testing.T) {
	for path, want := range map[string]string{
		"":                    "",
		"http":                "",
		"http.listen":         "http",
		"a[2].b":              "a[2]",
		"a[2]":                "a",
		`labels["x.y"]`:       "labels",
		`labels["x\"].[y"].z`: `labels["x\"].[y"]`,
	} {
		if got := parentPath(path); got != want {
			t.Errorf("parentPath(%s) = %q, want %q", path, got, want)
		}
	}
	lines := map[string]int{"http": 4, "outputs[1]": 9}
	for path, want := range map[string]int{"http.listen": 4, "outputs[1].batch.size": 9, "site": 1, "outputs[0].name": 1} {
		if got := lineOf(lines, path); got != want {
			t.Errorf("lineOf(%s) = %d, want %d", path, got, want)
		}
	}
}
