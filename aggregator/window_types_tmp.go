package aggregator

import "time"

// TEMPORARY: identical copies of the configuration types that
// aggregator/config.go defines on the runtime branch, so that the window
// step compiles on its own. The merge deletes this file.

// PipelineConfig is one pipeline: steps from a stream to a stream.
type PipelineConfig struct {
	Name, From, To  string
	Steps           []StepConfig
	AllowedLateness time.Duration
	Late            string /* "drop" (default) or "correct" */
}

// WindowConfig is a window step.
type WindowConfig struct {
	Size, Slide time.Duration
	GroupBy     []string /* "key", or value field names */
	Aggregates  []AggregateConfig
}

// AggregateConfig names a field and the functions computed over it.
type AggregateConfig struct {
	Field     string
	Functions []string /* count sum min max mean first last stddev p50 p95 p99 */
}

// StepConfig is a stub; the runtime branch defines it.
type StepConfig struct{}
