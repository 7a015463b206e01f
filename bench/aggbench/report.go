package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tributary-io/tributary/aggregator"
	"github.com/tributary-io/tributary/bench/internal/figure"
)

// target is the issue's: records/s per core through each step.
const target = 300_000

type report struct {
	cfg      config
	args     []string
	fs       string
	Cases    []caseResult     `json:"cases"`
	Verdicts []figure.Verdict `json:"verdicts"`
}

type caseResult struct {
	Name       string        `json:"name"`
	Rate       figure.Spread `json:"records_per_s"`      // read + decode + step, wall time
	CPU        figure.Spread `json:"cpu_s_per_1m"`       // whole process
	StepRate   figure.Spread `json:"step_records_per_s"` // time inside the step only
	Outputs    int           `json:"outputs"`
	Late       uint64        `json:"late"`
	StateSize  int           `json:"max_state_size"`  // StateSize() at its largest
	StateBytes int           `json:"max_state_bytes"` // len(MarshalState()) at its largest
}

func (c *caseResult) summarise(name string, runs []pass) {
	c.Name = name
	var rate, cpu, step []float64
	for _, p := range runs {
		rate = append(rate, float64(p.records)/p.wall.Seconds())
		cpu = append(cpu, p.cpu.Seconds()/float64(p.records)*1e6)
		if p.stepTime > 0 {
			step = append(step, float64(p.records)/p.stepTime.Seconds())
		}
		c.Outputs, c.Late = p.outputs, p.late
	}
	c.Rate, c.CPU, c.StepRate = figure.Of(rate), figure.Of(cpu), figure.Of(step)
}

func (r *report) printSettings(out io.Writer) {
	fmt.Fprintf(out, "aggbench %s\n", strings.Join(r.args, " "))
	fmt.Fprintf(out, "go: %s %s/%s, %d CPUs, GOMAXPROCS %d while measuring, GOGC default\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), r.cfg.procs)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/DataDog/sketches-go" || d.Path == "go.etcd.io/bbolt" || d.Path == "github.com/klauspost/compress" {
				fmt.Fprintf(out, "module: %s %s\n", d.Path, d.Version)
			}
		}
	}
	fmt.Fprintf(out, "dir: %s (the spool file is read from the page cache)\n", r.fs)
	fmt.Fprintf(out, "workload: %d records, %d devices each every %v (±%v of disorder), ~150-byte JSON values; one stream, one partition, zstd, spool.Options{}\n",
		r.cfg.records, r.cfg.devices, readEvery, jitter/2)
	fmt.Fprintf(out, "window: tumbling 1m, group_by [key], allowed lateness %v, watermark advanced after every %d KiB read\n", lateness, readChunk>>10)
	fmt.Fprintf(out, "runs: %d measured, after 1 warm-up, interleaved; figures are medians (min–max)\n", r.cfg.runs)
	fmt.Fprintf(out, "tier: memory only on every row (reads of a spool file in the page cache; no commit of output or state)\n")
}

func (r *report) print(out io.Writer) {
	raw := r.Cases[0].Rate.Median
	t := figure.Table{
		Title:  fmt.Sprintf("Records through one partition, per core (GOMAXPROCS %d)", r.cfg.procs),
		Header: []string{"case", "records/s", "÷ raw read", "CPU-s/1M", "step alone records/s", "outputs", "late"},
	}
	for _, c := range r.Cases {
		step, outs := "—", "—"
		if c.StepRate.Runs > 0 {
			step, outs = figure.RateSpread(c.StepRate), fmt.Sprint(c.Outputs)
		}
		t.Row(c.Name, figure.RateSpread(c.Rate), figure.Ratio(c.Rate.Median, raw), figure.NumSpread(c.CPU, "%.2f"), step, outs, fmt.Sprint(c.Late))
	}
	t.Note("records/s: the whole pass (spool.Read in 1 MiB reads, Entry.Records, then the step) ÷ its wall time; ÷ raw read compares it with the first row, the spool's raw read rate")
	t.Note("step alone: records ÷ the time spent inside the step's Process and Advance (aggregator.NewRecord per record included)")
	t.Note("deadband: the pipeline's step (aggregator.NewDeadband), field value, absolute %g, no heartbeat", r.cfg.band)
	t.Print(out)

	s := figure.Table{Title: "Window state at its largest (before an Advance)", Header: []string{"case", "StateSize()", "MarshalState bytes", "encoded bytes per device"}}
	for _, c := range r.Cases[1:3] {
		s.Row(c.Name, kb(c.StateSize), kb(c.StateBytes), fmt.Sprintf("%.0f B", float64(c.StateBytes)/float64(r.cfg.devices)))
	}
	s.Note("measured before each Advance of the warm-up run: the current minute's window and, until the watermark passes its end (5 s late), the previous one are open, so up to 2 groups per device")
	s.Note("quantiles: DDSketch, ±%.0f%% relative error (aggregator.SketchRelativeAccuracy)", aggregator.SketchRelativeAccuracy*100)
	s.Print(out)

	r.Verdicts = nil
	for i, c := range r.Cases[1:] {
		res := fmt.Sprintf("%s (%s raw read)", figure.Rate(c.Rate.Median), figure.Ratio(c.Rate.Median, raw))
		r.Verdicts = append(r.Verdicts, figure.Judge(i+1, c.Name+" ≥ 300k records/s per core", c.Rate.Median, true, c.Rate.Median >= target, res))
	}
	v := figure.Table{Title: "Targets", Header: []string{"target", "result", "status"}}
	for _, x := range r.Verdicts {
		v.Row(x.Target, x.Result, x.Status)
	}
	v.Note("the rate judged is the whole pass (read + decode + step) on one core")
	v.Note("finished %s", time.Now().UTC().Format(time.RFC3339))
	v.Print(out)
}

func kb(n int) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

func writeJSON(path string, r *report) error { return figure.WriteJSON(path, r) }
