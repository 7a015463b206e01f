package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/tributary-io/tributary/aggregator"
)

// Pipeline is one local processing pipeline: records of stream From pass
// through Steps, in order, into stream To. See the aggregator package and
// the README's "Local processing" for each step's semantics.
type Pipeline struct {
	// Name identifies the pipeline in metrics and in the spool (its cursor
	// is agg/<name>); renaming it starts it over.
	Name string `yaml:"name"`
	// From and To are streams in streams; they must differ.
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// AllowedLateness holds the watermark this far behind the newest event
	// time seen, so that windows and buckets wait for stragglers.
	AllowedLateness Duration `yaml:"allowed_lateness"`
	// Late is what a window does with a record after its window closed:
	// "drop" or "correct" (emit the window again).
	Late string `yaml:"late"`
	// Steps, in order; at least one.
	Steps []Step `yaml:"steps"`
}

// Step is one step: exactly one of its keys is set.
type Step struct {
	// Filter is a boolean expression; records it is false for are dropped.
	Filter string `yaml:"filter"`
	// Map is an expression building the record's new JSON value (a map).
	Map string `yaml:"map"`
	// Deadband reports by exception.
	Deadband *Deadband `yaml:"deadband"`
	// Downsample keeps at most one record per key per interval.
	Downsample *Downsample `yaml:"downsample"`
	// Window computes aggregates over event-time windows.
	Window *Window `yaml:"window"`
}

// Deadband: per key and field, emit when a field moved by more than
// absolute, or relative × |last emitted|, or when heartbeat has passed.
type Deadband struct {
	Fields    []string `yaml:"fields"`
	Absolute  float64  `yaml:"absolute"`
	Relative  float64  `yaml:"relative"`
	Heartbeat Duration `yaml:"heartbeat"`
}

// Downsample keeps per key per interval the first, the last, or the mean
// of fields.
type Downsample struct {
	Interval Duration `yaml:"interval"`
	Mode     string   `yaml:"mode"`
	Fields   []string `yaml:"fields"`
}

// Window computes aggregates over windows of size every slide.
type Window struct {
	Size       Duration    `yaml:"size"`
	Slide      Duration    `yaml:"slide"`
	GroupBy    []string    `yaml:"group_by"`
	Aggregates []Aggregate `yaml:"aggregates"`
}

// Aggregate is one field's aggregate functions.
type Aggregate struct {
	Field     string   `yaml:"field"`
	Functions []string `yaml:"functions"`
}

func (p *Pipeline) setDefaults() { *p = Pipeline{Late: "drop"} }

// Aggregator returns the pipeline as the aggregator takes it.
func (p Pipeline) Aggregator() aggregator.PipelineConfig {
	out := aggregator.PipelineConfig{Name: p.Name, From: p.From, To: p.To, AllowedLateness: p.AllowedLateness.Std(), Late: p.Late}
	for _, s := range p.Steps {
		st := aggregator.StepConfig{Filter: s.Filter, Map: s.Map}
		if d := s.Deadband; d != nil {
			st.Deadband = &aggregator.DeadbandConfig{Fields: d.Fields, Absolute: d.Absolute, Relative: d.Relative, Heartbeat: d.Heartbeat.Std()}
		}
		if d := s.Downsample; d != nil {
			st.Downsample = &aggregator.DownsampleConfig{Interval: d.Interval.Std(), Mode: d.Mode, Fields: d.Fields}
		}
		if w := s.Window; w != nil {
			wc := &aggregator.WindowConfig{Size: w.Size.Std(), Slide: w.Slide.Std(), GroupBy: w.GroupBy}
			for _, a := range w.Aggregates {
				wc.Aggregates = append(wc.Aggregates, aggregator.AggregateConfig{Field: a.Field, Functions: a.Functions})
			}
			st.Window = wc
		}
		out.Steps = append(out.Steps, st)
	}
	return out
}

// stepKinds are the keys of a step, in the order the messages name them.
var stepKinds = []string{"filter", "map", "deadband", "downsample", "window"}

func (s Step) kinds() []string {
	set := []bool{s.Filter != "", s.Map != "", s.Deadband != nil, s.Downsample != nil, s.Window != nil}
	var out []string
	for i, ok := range set {
		if ok {
			out = append(out, stepKinds[i])
		}
	}
	return out
}

var pipelineNameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,64}$`)

// pipelines checks each pipeline: its name, its streams, its steps' shape,
// then everything else (and the expressions) as the aggregator compiles it.
func (v *validator) pipelines(c *Config) {
	known := map[string]bool{}
	for _, s := range c.Streams {
		known[s.Name] = true
	}
	seen := map[string]int{}
	for i, p := range c.Pipelines {
		path := fmt.Sprintf("pipelines[%d]", i)
		switch j, dup := seen[p.Name]; {
		case !pipelineNameRE.MatchString(p.Name):
			v.add(path+".name", "must be 1 to 64 of a-z, A-Z, 0-9, '.', '_', '-'; got %q", p.Name)
		case dup:
			v.add(path+".name", "pipeline %q is already defined at pipelines[%d]", p.Name, j)
		default:
			seen[p.Name] = i
		}
		for _, s := range []struct{ key, name string }{{"from", p.From}, {"to", p.To}} {
			if !known[s.name] {
				v.add(path+"."+s.key, "stream %q is not in streams", s.name)
			}
		}
		if p.From == p.To && p.From != "" {
			v.add(path+".to", "is the same stream as from (%q); a pipeline writes to another stream", p.To)
		}
		v.duration(path+".allowed_lateness", p.AllowedLateness, 0, 7*Day)
		v.oneOf(path+".late", p.Late, "drop", "correct")
		n := len(v.errs) // the shape of the steps must be right to compile them
		if len(p.Steps) == 0 {
			v.add(path+".steps", "at least one step is required: filter, map, deadband, downsample or window")
		}
		for j, s := range p.Steps {
			switch k := s.kinds(); len(k) {
			case 0:
				v.add(fmt.Sprintf("%s.steps[%d]", path, j), "a step needs one of: %s", strings.Join(stepKinds, ", "))
			case 1:
			default:
				v.add(fmt.Sprintf("%s.steps[%d]", path, j), "has %s; a step is exactly one of them (make several steps)", strings.Join(k, " and "))
			}
		}
		if len(v.errs) == n && p.From != p.To && (p.Late == "drop" || p.Late == "correct") {
			v.pipelineCompile(path, p)
		}
	}
}

// pipelineCompile reports what the aggregator finds wrong with p, at the
// step's key.
func (v *validator) pipelineCompile(path string, p Pipeline) {
	err := aggregator.Check(p.Aggregator())
	if err == nil {
		return
	}
	var ce *aggregator.ConfigError
	if !errors.As(err, &ce) {
		v.add(path, "%v", err)
		return
	}
	if ce.Step >= 0 {
		path = fmt.Sprintf("%s.steps[%d]", path, ce.Step)
		if ce.Kind != "" {
			path += "." + ce.Kind
		}
	}
	if ce.Line > 0 {
		v.add(path, "expression line %d, column %d: %v", ce.Line, ce.Column, ce.Err)
		return
	}
	v.add(path, "%v", ce.Err)
}
