package main

import (
	"fmt"
	"io"
	"time"

	"github.com/tributary-io/tributary/aggregator"
	benchproc "github.com/tributary-io/tributary/bench/internal/proc"
	"github.com/tributary-io/tributary/spool"
)

const (
	readChunk = 1 << 20 // bytes per spool.Read, as spoolbench's replay
	lateness  = 5 * time.Second
)

// A case is one way of consuming the partition; a nil step only reads and
// decodes.
type benchCase struct {
	name    string
	newStep func() (aggregator.Operator, error)
}

func windowCase(name string, fns ...string) benchCase {
	return benchCase{name: name, newStep: func() (aggregator.Operator, error) {
		return aggregator.NewWindow(aggregator.WindowConfig{
			Size: time.Minute, GroupBy: []string{"key"},
			Aggregates: []aggregator.AggregateConfig{{Field: "value", Functions: fns}},
		}, aggregator.PipelineConfig{AllowedLateness: lateness})
	}}
}

func cases(c config) []benchCase {
	return []benchCase{
		{name: "raw read+decode"},
		windowCase("window mean/min/max/count", "mean", "min", "max", "count"),
		windowCase("window + p50/p95/p99", "mean", "min", "max", "count", "p50", "p95", "p99"),
		{name: "deadband", newStep: func() (aggregator.Operator, error) {
			return aggregator.NewDeadband(aggregator.DeadbandConfig{Fields: []string{"value"}, Absolute: c.band})
		}},
	}
}

// pass is one run of a case over the whole partition.
type pass struct {
	records, outputs int
	wall, cpu        time.Duration
	stepTime         time.Duration // time inside the step's Process and Advance
	late             uint64
	maxStateSize     int // StateSize, at its largest after an Advance
	maxStateBytes    int // len(MarshalState()), likewise; measured only when asked
}

// runPass reads partition 0 from the start, decoding every batch, and
// feeds each record to a new instance of the case's step; after each read
// it advances the watermark to the largest event time seen minus the
// lateness, as a pipeline does after a chunk, and at the end past
// everything, so that every window is emitted.
func runPass(s *spool.Spool, bc benchCase, measureState bool) (pass, error) {
	var p pass
	var step aggregator.Operator
	if bc.newStep != nil {
		var err error
		if step, err = bc.newStep(); err != nil {
			return p, err
		}
	}
	emit := func(*aggregator.Record) { p.outputs++ }
	var maxT time.Time
	cpu0, _ := benchproc.SelfCPU()
	start := time.Now()
	for from := uint64(0); ; {
		entries, err := s.Read(streamName, 0, from, readChunk)
		if err != nil {
			return p, err
		}
		if len(entries) == 0 {
			break
		}
		for _, e := range entries {
			from = e.NextOffset()
			recs, err := e.Records()
			if err != nil {
				return p, err
			}
			p.records += len(recs)
			if step == nil {
				continue
			}
			t0 := time.Now()
			for i := range recs {
				if recs[i].Time.After(maxT) {
					maxT = recs[i].Time
				}
				if err := step.Process(aggregator.NewRecord(recs[i]), emit); err != nil {
					return p, err
				}
			}
			p.stepTime += time.Since(t0)
		}
		if step != nil {
			if err := advance(step, maxT.Add(-lateness), emit, &p, measureState); err != nil {
				return p, err
			}
		}
	}
	if step != nil {
		if err := advance(step, maxT.Add(time.Hour), emit, &p, false); err != nil {
			return p, err
		}
		if l, ok := step.(interface{ Late() uint64 }); ok {
			p.late = l.Late()
		}
	}
	p.wall = time.Since(start)
	cpu1, _ := benchproc.SelfCPU()
	p.cpu = cpu1 - cpu0
	return p, nil
}

func advance(step aggregator.Operator, wm time.Time, emit func(*aggregator.Record), p *pass, measureState bool) error {
	if measureState { // before Advance: the windows are at their fullest
		p.maxStateSize = max(p.maxStateSize, step.StateSize())
		b, err := step.MarshalState()
		if err != nil {
			return err
		}
		p.maxStateBytes = max(p.maxStateBytes, len(b))
	}
	t0 := time.Now()
	err := step.Advance(wm, emit)
	p.stepTime += time.Since(t0)
	return err
}

// measure runs every case once as a warm-up (which also measures the
// state), then c.runs times, interleaved round by round so that drift on a
// shared machine falls on every case alike.
func (r *report) measure(s *spool.Spool, progress io.Writer) error {
	cs := cases(r.cfg)
	r.Cases = make([]caseResult, len(cs))
	runs := make([][]pass, len(cs))
	for round := range r.cfg.runs + 1 {
		for i, bc := range cs {
			p, err := runPass(s, bc, round == 0)
			if err != nil {
				return fmt.Errorf("%s: %w", bc.name, err)
			}
			if p.records != r.cfg.records {
				return fmt.Errorf("%s: read %d records, stored %d", bc.name, p.records, r.cfg.records)
			}
			if round == 0 {
				r.Cases[i].StateSize, r.Cases[i].StateBytes = p.maxStateSize, p.maxStateBytes
				continue
			}
			runs[i] = append(runs[i], p)
			fmt.Fprintf(progress, "aggbench: run %d/%d %-28s %8.0f records/s\n", round, r.cfg.runs, bc.name, float64(p.records)/p.wall.Seconds())
		}
	}
	for i, bc := range cs {
		r.Cases[i].summarise(bc.name, runs[i])
	}
	return nil
}
