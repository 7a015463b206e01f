package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxValues bounds the YAML values one decode visits, each use of an alias
// counting its whole value again, so that nested aliases cannot make a small
// file take unbounded time. A real config has a few hundred at most.
const maxValues = 100_000

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	durationType    = reflect.TypeFor[time.Duration]()
)

// walker decodes a YAML node tree onto a Go value, as yaml's own decoder
// does, but collects every error with its key path and line, and records the
// line of every key it visits so that later checks can point at it.
type walker struct {
	errs   []FieldError
	bad    map[string]bool     // paths whose value could not be decoded
	lines  map[string]int      // path → line of its key
	active map[*yaml.Node]bool // alias targets being walked
	visits int
}

func newWalker() *walker {
	return &walker{bad: map[string]bool{}, lines: map[string]int{}, active: map[*yaml.Node]bool{}}
}

// keyError records a problem with a key in the mapping at path.
func (w *walker) keyError(path string, line int, format string, args ...any) {
	w.errs = append(w.errs, FieldError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// valueError records that the value at path could not be decoded.
func (w *walker) valueError(path string, line int, format string, args ...any) {
	w.bad[path] = true
	w.keyError(path, line, format, args...)
}

// failedAt reports whether the value at path, or one holding it, could not
// be decoded, so that a check on it would report the same mistake again.
func (w *walker) failedAt(path string) bool {
	for p := path; ; p = parentPath(p) {
		if w.bad[p] {
			return true
		}
		if p == "" {
			return false
		}
	}
}

// walk decodes n onto v, which must be addressable.
func (w *walker) walk(path string, n *yaml.Node, v reflect.Value) {
	if w.visits++; w.visits > maxValues {
		if w.visits == maxValues+1 {
			w.valueError(path, n.Line, "aliases expand to more than %d values; write the values out", maxValues)
		}
		return
	}
	switch {
	case n.Kind == yaml.AliasNode:
		w.alias(path, n, v)
	case isNull(n):
		w.null(path, n, v)
	case reflect.PointerTo(v.Type()).Implements(unmarshalerType):
		w.unmarshaler(path, n, v)
	case v.Kind() == reflect.Pointer:
		w.pointer(path, n, v)
	case v.Kind() == reflect.Struct:
		w.structure(path, n, v)
	case v.Kind() == reflect.Map:
		w.dict(path, n, v)
	case v.Kind() == reflect.Slice:
		w.list(path, n, v)
	default:
		w.scalar(path, n, v)
	}
}

// alias decodes the value an alias refers to, refusing one that contains
// itself.
func (w *walker) alias(path string, n *yaml.Node, v reflect.Value) {
	target := n.Alias
	if target == nil || w.active[target] {
		w.valueError(path, n.Line, "alias *%s refers to a value that contains it", n.Value)
		return
	}
	w.active[target] = true
	w.walk(path, target, v)
	delete(w.active, target)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// null handles a key written with no value (or ~ or null): a mapping keeps
// what it has, a pointer, map or list becomes nil, and a scalar is an error,
// since the writer most likely forgot the value.
func (w *walker) null(path string, n *yaml.Node, v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		v.SetZero()
	default:
		w.valueError(path, n.Line, "missing value; write one, or delete the key to use the default")
	}
}

// unmarshaler lets a type that implements yaml.Unmarshaler decode itself.
func (w *walker) unmarshaler(path string, n *yaml.Node, v reflect.Value) {
	if err := n.Decode(v.Addr().Interface()); err != nil {
		w.valueError(path, n.Line, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
}

func (w *walker) pointer(path string, n *yaml.Node, v reflect.Value) {
	if v.IsNil() {
		v.Set(reflect.New(v.Type().Elem()))
	}
	w.walk(path, n, v.Elem())
}

// structure decodes a mapping onto a struct, field by yaml tag.
func (w *walker) structure(path string, n *yaml.Node, v reflect.Value) {
	fields := structFields(v.Type())
	if n.Kind != yaml.MappingNode {
		w.valueError(path, n.Line, "want a mapping with keys %s; got %s", fields, describe(n))
		return
	}
	w.pairs(path, n, func(key, val *yaml.Node) {
		i := fields.find(key.Value)
		if i < 0 {
			w.keyError(joinPath(path, key.Value), key.Line, "unknown key%s; allowed here: %s", suggest(key.Value, fields), fields)
			return
		}
		child := joinPath(path, key.Value)
		w.lines[child] = key.Line
		w.walk(child, val, v.FieldByIndex(fields[i].index))
	})
}

// dict decodes a mapping onto a map with string keys. Entries already in
// the map stay unless the mapping has their key; each decoded entry starts
// from its type's zero value.
func (w *walker) dict(path string, n *yaml.Node, v reflect.Value) {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		w.valueError(path, n.Line, "cannot decode into %s: map keys must be strings", t)
		return
	}
	if n.Kind != yaml.MappingNode {
		w.valueError(path, n.Line, "want a mapping, got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	w.pairs(path, n, func(key, val *yaml.Node) {
		child := mapPath(path, key.Value)
		w.lines[child] = key.Line
		elem := reflect.New(t.Elem()).Elem()
		applyDefaults(elem)
		w.walk(child, val, elem)
		v.SetMapIndex(reflect.ValueOf(key.Value).Convert(t.Key()), elem)
	})
}

// list decodes a sequence onto a slice, replacing what the slice held.
func (w *walker) list(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		w.valueError(path, n.Line, "want a list, got %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		v.SetZero() // an empty list is a nil slice, as the zero value is
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		child := path + "[" + strconv.Itoa(i) + "]"
		w.lines[child] = item.Line
		applyDefaults(s.Index(i))
		w.walk(child, item, s.Index(i))
	}
	v.Set(s)
}

// scalar decodes a scalar onto a string, bool, number or interface value
// with yaml's own rules, and rewords yaml's error.
func (w *walker) scalar(path string, n *yaml.Node, v reflect.Value) {
	want := describeType(v.Type())
	switch {
	case want == "":
		w.valueError(path, n.Line, "cannot decode into %s", v.Type())
	case n.Kind != yaml.ScalarNode && v.Kind() != reflect.Interface:
		w.valueError(path, n.Line, "want %s, got %s", want, describe(n))
	default:
		if err := n.Decode(v.Addr().Interface()); err != nil {
			w.valueError(path, n.Line, "want %s, got %s", want, describe(n))
		}
	}
}

// pairs calls fn for each key and value of mapping n, after resolving
// aliases and rejecting keys that are not scalars, merge keys (<<) and
// duplicates.
func (w *walker) pairs(path string, n *yaml.Node, fn func(key, val *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Kind == yaml.AliasNode && key.Alias != nil {
			key = &yaml.Node{Kind: key.Alias.Kind, Tag: key.Alias.Tag, Value: key.Alias.Value, Line: key.Line}
		}
		switch first, dup := seen[key.Value]; {
		case key.Kind != yaml.ScalarNode:
			w.keyError(path, key.Line, "a key must be a plain string, got %s", describe(key))
		case key.ShortTag() == "!!merge":
			w.keyError(path, key.Line, "merge keys (<<) are not supported; write the keys out")
		case dup:
			w.keyError(mapPath(path, key.Value), key.Line, "duplicate key (first at line %d)", first)
		default:
			seen[key.Value] = key.Line
			fn(key, val)
		}
	}
}

// field is a struct field that a config key maps to.
type field struct {
	name  string
	index []int
}

// fieldList is a struct's fields in declaration order.
type fieldList []field

// structFields lists the exported fields of struct type t, named by their
// yaml tag, or by their lower-cased Go name when they have none, as yaml
// does. Fields tagged "-" are left out; ",inline" is not supported.
func structFields(t reflect.Type) fieldList {
	var fields fieldList
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields = append(fields, field{name: name, index: f.Index})
	}
	return fields
}

// find returns the index of the field with the given key, or -1.
func (fs fieldList) find(key string) int {
	for i, f := range fs {
		if f.name == key {
			return i
		}
	}
	return -1
}

// String lists the keys, comma-separated.
func (fs fieldList) String() string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// defaulter is implemented by config types whose entries in a list or map
// start from their defaults rather than from zero values, so that a key
// left out of one entry takes its default.
type defaulter interface{ setDefaults() }

func applyDefaults(v reflect.Value) {
	if !v.CanAddr() {
		return
	}
	if d, ok := v.Addr().Interface().(defaulter); ok {
		d.setDefaults()
	}
}

// suggest returns ` (did you mean "x"?)` when key is a likely typo of exactly
// one field name (at most two edits away), and "" otherwise.
func suggest(key string, fs fieldList) string {
	best, n := "", 0
	for _, f := range fs {
		if d := editDistance(key, f.name); d <= 2 && d < len(f.name) {
			best, n = f.name, n+1
		}
	}
	if n != 1 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
