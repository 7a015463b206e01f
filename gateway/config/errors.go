package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// FieldError is one problem with a configuration: where it is and what is
// wrong. Load and Parse fill in File and Line; Validate leaves them empty,
// because a Config built in Go has neither.
type FieldError struct {
	File string // the config file's name as given to Load or Parse
	Line int    // 1-based line of the offending key or value; 0 if unknown
	Path string // key path such as "http.listen" or "outputs[2].url"; "" for the whole file
	Msg  string // what is wrong and what is allowed
}

// Error returns "FILE:LINE: PATH: MSG", leaving out the parts that are empty.
func (e FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(":")
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one configuration. Load and Parse return
// it as their error when anything is wrong; use errors.As to get at each
// FieldError.
type Errors []FieldError

// Error returns one FieldError per line, sorted by line, then path.
func (es Errors) Error() string {
	sorted := slices.Clone(es)
	sortErrors(sorted)
	lines := make([]string, len(sorted))
	for i, e := range sorted {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sortErrors orders errors by line, then path, keeping the order of equals.
func sortErrors(es []FieldError) {
	slices.SortStableFunc(es, func(a, b FieldError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Path, b.Path))
	})
}
