package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the config file at path and returns it decoded onto the
// defaults for its role and validated. If anything in the file is wrong, the
// error is an Errors listing every problem; a file that cannot be read gives
// an error wrapping the os error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a config file's contents as Load does. name is
// the file's name, used in error messages.
func Parse(name string, data []byte) (*Config, error) {
	root, ferr := parseDocument(data)
	if ferr != nil {
		ferr.File = name
		return nil, Errors{*ferr}
	}
	cfg, errs := decode(root)
	if len(errs) > 0 {
		for i := range errs {
			errs[i].File = name
		}
		sortErrors(errs)
		return nil, Errors(errs)
	}
	return cfg, nil
}

// decode decodes the root mapping onto the defaults for the role it names,
// or the edge defaults if it names none, then validates the result. It
// returns the decoding errors and those validation errors that are not about
// a value that failed to decode.
func decode(root *yaml.Node) (*Config, []FieldError) {
	role := roleOf(root)
	cfg := Default(role)
	cfg.Role = "" // so that a missing role is reported
	w := newWalker()
	w.walk("", root, reflect.ValueOf(&cfg).Elem())
	errs := w.errs
	inFile := func(path string) bool { _, ok := w.lines[path]; return ok }
	for _, e := range cfg.validate(inFile) {
		if !w.failedAt(e.Path) {
			e.Line = lineOf(w.lines, e.Path)
			errs = append(errs, e)
		}
	}
	return &cfg, errs
}

// roleOf returns the role the root mapping names if it is a valid one, and
// RoleEdge otherwise; decoding and validation report a bad role.
func roleOf(root *yaml.Node) Role {
	if root.Kind != yaml.MappingNode {
		return RoleEdge
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		if val.Kind == yaml.AliasNode && val.Alias != nil {
			val = val.Alias
		}
		if key.Value == "role" {
			if val.Kind == yaml.ScalarNode && Role(val.Value) == RoleHub {
				return RoleHub
			}
			return RoleEdge
		}
	}
	return RoleEdge
}

// parseDocument parses data as a single YAML document and returns its top
// node, or an error for a syntax error, an empty file or a second document.
func parseDocument(data []byte) (*yaml.Node, *FieldError) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, syntaxError(err)
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	if isNull(root) {
		return nil, emptyError(root.Line)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, &FieldError{Line: next.Line, Msg: "a second YAML document starts here; a config file holds exactly one"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(err)
	}
	return root, nil
}

// emptyError reports a file with no settings in it.
func emptyError(line int) *FieldError {
	keys := structFields(reflect.TypeFor[Config]())
	return &FieldError{Line: max(line, 1), Msg: "the file holds no settings; want a mapping with keys " + keys.String()}
}

// yamlLine finds the line number in a yaml syntax error.
var yamlLine = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// syntaxError turns an error from the YAML parser into a FieldError.
func syntaxError(err error) *FieldError {
	if errors.Is(err, io.EOF) {
		return emptyError(1)
	}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &FieldError{Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &FieldError{Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
}
