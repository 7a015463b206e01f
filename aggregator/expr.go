package aggregator

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// The names an expression always sees; a value field with one of these
// names is reached as value.name (or value["name"]).
var reservedNames = map[string]any{
	"key":     "",
	"time":    time.Time{},
	"headers": map[string]string{},
	"value":   map[string]any{},
}

// exprOptions are the compile options every expression shares.
func exprOptions() []expr.Option {
	return []expr.Option{
		expr.Env(reservedNames),
		expr.AllowUndefinedVariables(), // the value's fields, unknown until run time
		expr.Function("merge", merge, new(func(...map[string]any) map[string]any)),
		expr.Function("omit", omit, new(func(map[string]any, ...string) map[string]any)),
		expr.MaxNodes(10_000),
	}
}

// merge returns the union of maps, later ones winning.
func merge(params ...any) (any, error) {
	out := map[string]any{}
	for i, p := range params {
		m, ok := p.(map[string]any)
		if !ok && p != nil {
			return nil, fmt.Errorf("merge: argument %d is %T, not a map", i+1, p)
		}
		maps.Copy(out, m)
	}
	return out, nil
}

// omit returns a copy of a map without the named keys.
func omit(params ...any) (any, error) {
	m, _ := params[0].(map[string]any)
	out := maps.Clone(m)
	if out == nil {
		out = map[string]any{}
	}
	for _, p := range params[1:] {
		s, ok := p.(string)
		if !ok {
			return nil, fmt.Errorf("omit: keys must be strings, got %T", p)
		}
		delete(out, s)
	}
	return out, nil
}

// compileExpr compiles one step's expression; a syntax or type error
// becomes a ConfigError with its line and column.
func compileExpr(p PipelineConfig, step int, kind, src string, opt expr.Option) (*vm.Program, error) {
	prog, err := expr.Compile(src, append(exprOptions(), opt)...)
	if err == nil {
		return prog, nil
	}
	ce := &ConfigError{Pipeline: p.Name, Step: step, Kind: kind, Err: err}
	var fe *file.Error
	if errors.As(err, &fe) {
		ce.Line, ce.Column, ce.Err = fe.Line, fe.Column+1, errors.New(fe.Message)
	}
	return nil, ce
}

// exprEnv builds the environment of one record, reusing its maps.
type exprEnv struct {
	vars    map[string]any
	headers map[string]string
	vm      vm.VM
}

func (e *exprEnv) run(prog *vm.Program, r *Record) (any, error) {
	if e.vars == nil {
		e.vars, e.headers = map[string]any{}, map[string]string{}
	}
	clear(e.vars)
	clear(e.headers)
	fields, _ := r.Fields()
	maps.Copy(e.vars, fields)
	for _, h := range r.Headers {
		e.headers[h.Key] = string(h.Value)
	}
	value := fields
	if value == nil {
		value = map[string]any{}
	}
	e.vars["key"], e.vars["time"], e.vars["headers"], e.vars["value"] = string(r.Key), r.Time, e.headers, value
	return e.vm.Run(prog, e.vars)
}

// filterOp passes the records its expression is true for.
type filterOp struct {
	prog  *vm.Program
	stats *stepStats
	env   exprEnv
}

func (f *filterOp) Process(r *Record, emit func(*Record)) error {
	out, err := f.env.run(f.prog, r)
	if ok, isBool := out.(bool); err == nil && isBool && ok {
		emit(r)
		return nil
	}
	if err != nil || out != false {
		f.stats.exprErrors.Add(1)
	}
	f.stats.filtered.Add(1)
	return nil
}

func (f *filterOp) Advance(time.Time, func(*Record)) error { return nil }
func (f *filterOp) MarshalState() ([]byte, error)          { return nil, nil }
func (f *filterOp) UnmarshalState([]byte) error            { return nil }
func (f *filterOp) StateSize() int                         { return 0 }

// mapOp replaces each record's value with the map its expression builds.
type mapOp struct {
	prog  *vm.Program
	stats *stepStats
	env   exprEnv
}

func (m *mapOp) Process(r *Record, emit func(*Record)) error {
	out, err := m.env.run(m.prog, r)
	fields, ok := out.(map[string]any)
	if err != nil || !ok {
		m.stats.exprErrors.Add(1)
		return nil
	}
	if err := r.SetFields(finite(fields).(map[string]any)); err != nil {
		m.stats.exprErrors.Add(1)
		return nil
	}
	emit(r)
	return nil
}

func (m *mapOp) Advance(time.Time, func(*Record)) error { return nil }
func (m *mapOp) MarshalState() ([]byte, error)          { return nil, nil }
func (m *mapOp) UnmarshalState([]byte) error            { return nil }
func (m *mapOp) StateSize() int                         { return 0 }

// finite replaces NaN and ±Inf, which JSON cannot hold, by nil (null),
// in maps and slices at any depth. Maps are copied, not changed.
func finite(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	case float32:
		return finite(float64(x))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = finite(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = finite(e)
		}
		return out
	}
	return v
}

// mapKind is the compile-time check that a map expression builds a map.
var mapKind = expr.AsKind(reflect.Map)
