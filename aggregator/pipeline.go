package aggregator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// pipeline is a compiled PipelineConfig: what each partition's chain of
// steps is built from.
type pipeline struct {
	cfg   PipelineConfig
	steps []func() (Operator, error) // one constructor per step
	stats *stepStats
	// fingerprint changes when the steps or the lateness change; a state
	// stored under another fingerprint is not restored.
	fingerprint string
}

// compile validates p and compiles its expressions.
func compile(p PipelineConfig) (*pipeline, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	pl := &pipeline{cfg: p, stats: &stepStats{}}
	for i, s := range p.Steps {
		mk, err := pl.compileStep(i, s)
		if err != nil {
			return nil, err
		}
		if _, err := mk(); err != nil { // a window that cannot be built fails here, at load
			return nil, &ConfigError{Pipeline: p.Name, Step: i, Kind: s.Kind(), Err: err}
		}
		pl.steps = append(pl.steps, mk)
	}
	fp, err := json.Marshal(struct {
		Steps    []StepConfig
		Lateness time.Duration
		Late     string
	}{p.Steps, p.AllowedLateness, p.Late})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(fp)
	pl.fingerprint = hex.EncodeToString(sum[:8])
	return pl, nil
}

func (pl *pipeline) compileStep(i int, s StepConfig) (func() (Operator, error), error) {
	p, stats := pl.cfg, pl.stats
	var prog *vm.Program
	var err error
	switch kind := s.Kind(); kind {
	case "filter":
		if prog, err = compileExpr(p, i, kind, s.Filter, expr.AsBool()); err != nil {
			return nil, err
		}
		return func() (Operator, error) { return &filterOp{prog: prog, stats: stats}, nil }, nil
	case "map":
		if prog, err = compileExpr(p, i, kind, s.Map, mapKind); err != nil {
			return nil, err
		}
		return func() (Operator, error) { return &mapOp{prog: prog, stats: stats}, nil }, nil
	case "deadband":
		cfg := *s.Deadband
		return func() (Operator, error) { return newDeadband(cfg, stats), nil }, nil
	case "downsample":
		cfg := *s.Downsample
		return func() (Operator, error) { return newDownsample(cfg, stats), nil }, nil
	case "window":
		cfg := s.Window.normalized()
		return func() (Operator, error) { return newWindow(cfg, p) }, nil
	}
	return nil, &ConfigError{Pipeline: p.Name, Step: i, Err: fmt.Errorf("unknown step")}
}

// chain is one partition's instance of a pipeline's steps. Records go
// through it one at a time; after each record that moves the watermark,
// every step is advanced, in order. Because the watermark moves with the
// records and not with the chunks the runner happens to read, the output
// is a function of the partition's records alone.
type chain struct {
	ops      []Operator
	emits    []func(*Record) // emits[i] takes what ops[i] emits
	lateness time.Duration
	maxTime  time.Time // largest event time seen; zero before the first record
	err      error     // the first error a step returned inside an emit
}

func (pl *pipeline) newChain(out func(*Record)) (*chain, error) {
	c := &chain{lateness: pl.cfg.AllowedLateness}
	for _, mk := range pl.steps {
		op, err := mk()
		if err != nil {
			return nil, err
		}
		c.ops = append(c.ops, op)
	}
	c.emits = make([]func(*Record), len(c.ops))
	c.emits[len(c.ops)-1] = out
	for i := len(c.ops) - 2; i >= 0; i-- {
		next, emit := c.ops[i+1], c.emits[i+1]
		c.emits[i] = func(r *Record) {
			if err := next.Process(r, emit); err != nil && c.err == nil {
				c.err = err
			}
		}
	}
	return c, nil
}

// watermark is the chain's current watermark (zero before any record).
func (c *chain) watermark() time.Time {
	if c.maxTime.IsZero() {
		return time.Time{}
	}
	return c.maxTime.Add(-c.lateness)
}

// process feeds one input record through the steps, then advances them if
// the record moved the watermark.
func (c *chain) process(r *Record) error {
	if err := c.ops[0].Process(r, c.emits[0]); err != nil {
		return err
	}
	if c.err != nil {
		return c.err
	}
	if !r.Time.After(c.maxTime) {
		return nil
	}
	c.maxTime = r.Time
	wm := c.watermark()
	for i, op := range c.ops {
		if err := op.Advance(wm, c.emits[i]); err != nil {
			return err
		}
		if c.err != nil {
			return c.err
		}
	}
	return nil
}

// stateSize sums the steps' StateSize.
func (c *chain) stateSize() int {
	n := 0
	for _, op := range c.ops {
		n += op.StateSize()
	}
	return n
}

// late sums what steps that count late records saw.
func (c *chain) late() uint64 {
	var n uint64
	for _, op := range c.ops {
		if lc, ok := op.(LateCounter); ok {
			n += lc.Late()
		}
	}
	return n
}
