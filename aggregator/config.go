package aggregator

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// PipelineConfig is one pipeline: records of stream From pass through Steps,
// in order, and what the last step emits is appended to stream To.
type PipelineConfig struct {
	// Name identifies the pipeline in metrics, logs, errors and the spool
	// (its cursor is "agg/<name>"): 1 to 64 of a-z, A-Z, 0-9, '.', '_', '-'.
	// Renaming a pipeline starts it over from the oldest record held.
	Name string
	// From is the input stream, To the output stream; they must differ.
	From, To string
	// Steps run in order; at least one.
	Steps []StepConfig
	// AllowedLateness holds the watermark this far behind the largest event
	// time seen in a partition: windows and downsample buckets close only
	// once the watermark passes their end. Default 0.
	AllowedLateness time.Duration
	// Late is what a window does with a record that arrives after its
	// window closed: "drop" (the default) counts and drops it; "correct"
	// emits the window again with the record included. Deadband and
	// downsample always drop (and count) records for a bucket they closed.
	Late string
}

// StepConfig is one step: exactly one of its fields is set.
type StepConfig struct {
	// Filter is a boolean expression; records for which it is false are
	// dropped (see the package doc for the environment).
	Filter string
	// Map is an expression that builds the record's new JSON value, a map.
	Map string
	// Deadband reports by exception.
	Deadband *DeadbandConfig
	// Downsample keeps at most one record per key per interval.
	Downsample *DownsampleConfig
	// Window computes aggregates over event-time windows.
	Window *WindowConfig
}

// Kind is the step's kind: "filter", "map", "deadband", "downsample",
// "window", or "" when none or several are set.
func (s StepConfig) Kind() string {
	var kinds []string
	if s.Filter != "" {
		kinds = append(kinds, "filter")
	}
	if s.Map != "" {
		kinds = append(kinds, "map")
	}
	if s.Deadband != nil {
		kinds = append(kinds, "deadband")
	}
	if s.Downsample != nil {
		kinds = append(kinds, "downsample")
	}
	if s.Window != nil {
		kinds = append(kinds, "window")
	}
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

// DeadbandConfig: per key and field, a record is emitted when a field moved
// by more than a threshold since the value last emitted, or when Heartbeat
// of event time passed since the key's last emission.
type DeadbandConfig struct {
	// Fields are the top-level JSON fields watched; at least one.
	Fields []string
	// Absolute and Relative are the thresholds (≥ 0): a field has moved
	// when |new − last| > Absolute, or > Relative × |last|. A zero
	// threshold is off; with both off, any change counts.
	Absolute, Relative float64
	// Heartbeat (0: none) re-emits a key's latest record when this much
	// event time passed since its last emission.
	Heartbeat time.Duration
}

// Downsample modes.
const (
	DownsampleFirst = "first"
	DownsampleLast  = "last"
	DownsampleMean  = "mean"
)

// DownsampleConfig keeps at most one record per key per Interval.
type DownsampleConfig struct {
	// Interval is the bucket length; buckets are aligned to the Unix epoch.
	Interval time.Duration
	// Mode is "first", "last" or "mean".
	Mode string
	// Fields are the fields mean averages (required for mean, not allowed
	// otherwise); other fields come from the bucket's last record.
	Fields []string
}

// WindowConfig computes aggregates over event-time windows of Size,
// starting every Slide (aligned to the Unix epoch).
type WindowConfig struct {
	// Size and Slide: Size > 0; Slide 0 means Size (tumbling windows);
	// otherwise 0 < Slide ≤ Size and Size a multiple of Slide, with at most
	// MaxWindowsPerRecord windows per record (Size/Slide).
	Size, Slide time.Duration
	// GroupBy is what records are grouped by within a partition: "key" or
	// value field names. Default: key.
	GroupBy []string
	// Aggregates are the results each window emits; at least one.
	Aggregates []AggregateConfig
}

// AggregateConfig is one field's aggregates.
type AggregateConfig struct {
	// Field is the value's top-level field aggregated; "" is allowed only
	// when Functions is just count (count of records).
	Field string
	// Functions: count sum min max mean first last stddev p50 p95 p99.
	Functions []string
}

// AggregateFunctions are the names AggregateConfig.Functions may hold.
var AggregateFunctions = []string{"count", "sum", "min", "max", "mean", "first", "last", "stddev", "p50", "p95", "p99"}

// MaxWindowsPerRecord bounds Size/Slide: each record is in that many windows.
const MaxWindowsPerRecord = 1000

var pipelineNameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,64}$`)

// Validate checks the pipeline's shape, without compiling its expressions
// (New does that). The error names the pipeline and the step.
func (p PipelineConfig) Validate() error {
	if !pipelineNameRE.MatchString(p.Name) {
		return &ConfigError{Pipeline: p.Name, Step: -1, Err: fmt.Errorf("name must be 1 to 64 of a-z, A-Z, 0-9, '.', '_', '-'; got %q", p.Name)}
	}
	perr := func(format string, args ...any) error {
		return &ConfigError{Pipeline: p.Name, Step: -1, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case p.From == "" || p.To == "":
		return perr("from and to must name streams")
	case p.From == p.To:
		return perr("from and to are both %q; a pipeline must write to another stream", p.From)
	case len(p.Steps) == 0:
		return perr("steps: at least one step is required")
	case p.AllowedLateness < 0:
		return perr("allowed lateness must be ≥ 0, got %v", p.AllowedLateness)
	case p.Late != "" && p.Late != "drop" && p.Late != "correct":
		return perr("late must be drop or correct, got %q", p.Late)
	}
	for i, s := range p.Steps {
		kind := s.Kind()
		var err error
		switch kind {
		case "":
			err = fmt.Errorf("a step must set exactly one of filter, map, deadband, downsample, window")
		case "deadband":
			err = s.Deadband.validate()
		case "downsample":
			err = s.Downsample.validate()
		case "window":
			err = s.Window.validate()
		}
		if err != nil {
			return &ConfigError{Pipeline: p.Name, Step: i, Kind: kind, Err: err}
		}
	}
	return nil
}

func (c *DeadbandConfig) validate() error {
	switch {
	case len(c.Fields) == 0:
		return fmt.Errorf("fields: at least one field is required")
	case slices.Contains(c.Fields, ""):
		return fmt.Errorf("fields: a field name must not be empty")
	case !(c.Absolute >= 0) || math.IsInf(c.Absolute, 0):
		return fmt.Errorf("absolute must be a finite number ≥ 0, got %v", c.Absolute)
	case !(c.Relative >= 0) || math.IsInf(c.Relative, 0):
		return fmt.Errorf("relative must be a finite number ≥ 0, got %v", c.Relative)
	case c.Heartbeat < 0:
		return fmt.Errorf("heartbeat must be ≥ 0, got %v", c.Heartbeat)
	}
	return nil
}

func (c *DownsampleConfig) validate() error {
	switch {
	case c.Interval <= 0:
		return fmt.Errorf("interval must be > 0, got %v", c.Interval)
	case c.Mode != DownsampleFirst && c.Mode != DownsampleLast && c.Mode != DownsampleMean:
		return fmt.Errorf("mode must be one of: first, last, mean; got %q", c.Mode)
	case c.Mode == DownsampleMean && len(c.Fields) == 0:
		return fmt.Errorf("fields: mean needs the fields to average")
	case c.Mode != DownsampleMean && len(c.Fields) > 0:
		return fmt.Errorf("fields: only mean takes fields; %s keeps whole records", c.Mode)
	case slices.Contains(c.Fields, ""):
		return fmt.Errorf("fields: a field name must not be empty")
	}
	return nil
}

// normalized returns c with its defaults filled in: Slide = Size when 0,
// GroupBy = ["key"] when empty.
func (c WindowConfig) normalized() WindowConfig {
	if c.Slide == 0 {
		c.Slide = c.Size
	}
	if len(c.GroupBy) == 0 {
		c.GroupBy = []string{"key"}
	}
	return c
}

func (c *WindowConfig) validate() error {
	n := c.normalized()
	switch {
	case n.Size <= 0:
		return fmt.Errorf("size must be > 0, got %v", c.Size)
	case n.Slide < 0:
		return fmt.Errorf("slide must be > 0, got %v", c.Slide)
	case n.Slide > n.Size:
		return fmt.Errorf("slide %v must not be larger than size %v", n.Slide, n.Size)
	case n.Size%n.Slide != 0:
		return fmt.Errorf("size %v must be a multiple of slide %v", n.Size, n.Slide)
	case n.Size/n.Slide > MaxWindowsPerRecord:
		return fmt.Errorf("size/slide is %d; at most %d windows may overlap", n.Size/n.Slide, MaxWindowsPerRecord)
	case slices.Contains(n.GroupBy, ""):
		return fmt.Errorf("group_by: a name must not be empty")
	case len(n.Aggregates) == 0:
		return fmt.Errorf("aggregates: at least one is required")
	}
	for i, a := range n.Aggregates {
		if len(a.Functions) == 0 {
			return fmt.Errorf("aggregates[%d]: functions: at least one is required", i)
		}
		for _, f := range a.Functions {
			if !slices.Contains(AggregateFunctions, f) {
				return fmt.Errorf("aggregates[%d]: unknown function %q; known: %s", i, f, strings.Join(AggregateFunctions, ", "))
			}
			if a.Field == "" && f != "count" {
				return fmt.Errorf("aggregates[%d]: field is required for %s (only count works without one)", i, f)
			}
		}
	}
	return nil
}

// Check validates p and compiles its expressions, as New does, without a
// spool: config loaders call it to report errors at load. The error is a
// *ConfigError.
func Check(p PipelineConfig) error {
	_, err := compile(p)
	return err
}
