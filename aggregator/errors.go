package aggregator

import (
	"errors"
	"fmt"
)

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("aggregator is closed")

// ConfigError is a pipeline's configuration problem, found by New (or
// PipelineConfig.Validate): it names the pipeline, the step (index and
// kind) and, for an expression, the position in it.
type ConfigError struct {
	Pipeline string
	Step     int    // index in Steps; -1 for the pipeline itself
	Kind     string // the step's kind, "" if unknown
	// Line and Column (1-based) locate an expression error; 0 otherwise.
	Line, Column int
	Err          error
}

func (e *ConfigError) Error() string {
	s := fmt.Sprintf("pipeline %q", e.Pipeline)
	if e.Step >= 0 {
		s += fmt.Sprintf(" step %d", e.Step)
		if e.Kind != "" {
			s += " (" + e.Kind + ")"
		}
	}
	if e.Line > 0 {
		s += fmt.Sprintf(": line %d, column %d", e.Line, e.Column)
	}
	return s + ": " + e.Err.Error()
}

func (e *ConfigError) Unwrap() error { return e.Err }
