package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// A key path names a value in the file the way a reader would: "http.listen",
// "outputs[2].url", "labels.zone" for a map key, and labels["a.b"] for a map
// key that is not a plain word. The root is "".

// plainKey matches map keys that need no quoting in a path.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// joinPath returns the path of the field key inside the value at path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapPath returns the path of the map entry key inside the map at path.
func mapPath(path, key string) string {
	if plainKey.MatchString(key) {
		return joinPath(path, key)
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// parentPath returns the path of the value that holds path: "http" for
// "http.listen", "a[2]" for "a[2].b", "" for a top-level key.
func parentPath(path string) string {
	cut, quoted, escaped := 0, false, false
	for i, c := range path {
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && (c == '.' || c == '['):
			cut = i
		}
	}
	return path[:cut]
}

// lineOf returns the line of the key at path, or of its nearest ancestor
// that the file has, or 1 when the file has none of them.
func lineOf(lines map[string]int, path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if line, ok := lines[p]; ok {
			return line
		}
	}
	return 1
}

// describe says what a YAML node is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if isNull(n) {
			return "no value"
		}
		v := n.Value
		if r := []rune(v); len(r) > 40 {
			v = string(r[:37]) + "..."
		}
		return strconv.Quote(v)
	}
	return "a document"
}

// describeType says what a config file may hold for a value of type t, or
// returns "" if the walker cannot decode into t.
func describeType(t reflect.Type) string {
	if t == durationType {
		return "a duration such as 30s"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return describeInt(t.Bits(), true)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return describeInt(t.Bits(), false)
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Interface:
		return "a value"
	}
	return ""
}

// describeInt names an integer type's range when it is small enough to
// matter.
func describeInt(bits int, signed bool) string {
	switch {
	case bits == 64 && signed:
		return "an integer"
	case bits == 64:
		return "a non-negative integer"
	case signed:
		return fmt.Sprintf("an integer from %d to %d", int64(-1)<<(bits-1), int64(1)<<(bits-1)-1)
	}
	return "an integer from 0 to " + strconv.FormatUint(uint64(1)<<bits-1, 10)
}
