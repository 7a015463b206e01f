package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

// Section 2: durable append throughput, closed loop, one record per call.

var producerCounts = []int{1, 16, 256}

// tpCase is one mode and producer count.
type tpCase struct {
	Async     bool `json:"async"`
	Producers int  `json:"producers"`
}

func (c tpCase) mode() string {
	if c.Async {
		return fmt.Sprintf("async (%d in flight each)", asyncWindow)
	}
	return "blocking Append"
}

// tpRow is one case over runs.
type tpRow struct {
	tpCase
	Rate       figure.Spread `json:"records_per_s"`
	CPU        figure.Spread `json:"cpu_s_per_1m"`
	PerCommit  figure.Spread `json:"records_per_commit"`
	CommitMs   figure.Spread `json:"mean_commit_ms"`
	CommitBusy figure.Spread `json:"committer_busy_share"` // time inside commits / wall time
	VsRaw      float64       `json:"ratio_to_raw_bbolt"`   // 0: unknown
}

type tpResult struct {
	DurationS float64 `json:"duration_s"`
	Rows      []tpRow `json:"rows"`
}

func tpCases() []tpCase {
	var cs []tpCase
	for _, async := range []bool{false, true} {
		for _, p := range producerCounts {
			cs = append(cs, tpCase{Async: async, Producers: p})
		}
	}
	return cs
}

// measureThroughput runs every case once per round, the rounds after a
// warm-up round of shorter runs, so that drift on a noisy machine falls on
// every case alike.
func measureThroughput(c config, w *workload) (*tpResult, error) {
	cases := tpCases()
	got := make([][]loadResult, len(cases))
	for round := range c.runs + 1 {
		d := c.duration
		if round == 0 {
			d = warmDuration(c.duration)
		}
		for i, tc := range cases {
			r, err := tpOnce(c, w, tc, d)
			if err != nil {
				return nil, fmt.Errorf("%s, %d producers: %w", tc.mode(), tc.Producers, err)
			}
			if round > 0 {
				got[i] = append(got[i], r)
			}
		}
	}
	res := &tpResult{DurationS: c.duration.Seconds()}
	for i, tc := range cases {
		res.Rows = append(res.Rows, summariseLoad(tc, got[i]))
	}
	return res, nil
}

func tpOnce(c config, w *workload, tc tpCase, d time.Duration) (loadResult, error) {
	var r loadResult
	err := withSpool(c, func(s *testSpool) (err error) {
		r, err = runLoad(s, w, tc.Async, tc.Producers, d, 0)
		return err
	})
	return r, err
}

func summariseLoad(tc tpCase, runs []loadResult) tpRow {
	var rate, cpu, per, cms, busy []float64
	for _, r := range runs {
		rate, cpu = append(rate, r.rate()), append(cpu, r.cpuPerM)
		if c := r.commits; c.fromMetrics && c.commits > 0 {
			per, cms = append(per, c.records/c.commits), append(cms, c.commitSecs/c.commits*1e3)
			busy = append(busy, c.commitSecs/r.elapsed.Seconds())
		}
	}
	return tpRow{tpCase: tc, Rate: figure.Of(rate), CPU: figure.Of(cpu), PerCommit: figure.Of(per),
		CommitMs: figure.Of(cms), CommitBusy: figure.Of(busy)}
}

// row finds a case's row.
func (r *tpResult) row(async bool, producers int) *tpRow {
	for i := range r.Rows {
		if r.Rows[i].Async == async && r.Rows[i].Producers == producers {
			return &r.Rows[i]
		}
	}
	return nil
}

// profileAsync writes a CPU profile of one extra asynchronous
// 256-producer run (not counted in the results).
func profileAsync(c config, w *workload) error {
	return profileTo(c.cpuProfile, func() error {
		_, err := tpOnce(c, w, tpCase{Async: true, Producers: 256}, c.duration)
		return err
	})
}

// profileTo writes a CPU profile of fn to path.
func profileTo(path string, fn func() error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	err = fn()
	pprof.StopCPUProfile()
	if err != nil {
		return fmt.Errorf("profiled run: %w", err)
	}
	return f.Close()
}

// throughputTable is section 2's table, with the raw bbolt reference.
func (r *report) throughputTable() *figure.Table {
	t := &figure.Table{Title: fmt.Sprintf("2. Durable append throughput (closed loop, one record per call, %v per run)", r.cfg.duration),
		Header: []string{"mode", "producers", "records/s median (min–max)", "CPU-s/1M rec", "vs raw bbolt", "rec/commit", "commit ms", "committer busy", "tier"}}
	raw := r.rawRate()
	for _, row := range r.Throughput.Rows {
		t.Row(row.mode(), fmt.Sprint(row.Producers), figure.RateSpread(row.Rate), cpuStr(row.CPU), figure.Ratio(row.Rate.Median, raw),
			fmtOpt(row.PerCommit, "%.0f"), fmtOpt(row.CommitMs, "%.2f"), fmtOpt(row.CommitBusy, "%.2f"), tierFsync)
	}
	if r.Raw != nil {
		t.Row("raw bbolt Put (1b)", "1", figure.RateSpread(r.Raw.PutRate), cpuStr(r.Raw.PutCPU), "1.00×", fmt.Sprint(rawPerTxn), "", "", tierFsync)
	}
	t.Note("rec/commit, commit ms (encode + bbolt tx + syncs) and committer busy (time in commits / wall time) come from the spool's own metrics")
	t.Note("CPU-s counts the whole process: spool and load generator")
	for _, v := range r.verdicts() {
		if v.Section == 2 {
			t.Note("%s", v.Line())
		}
	}
	return t
}

// fmtOpt formats a median, or "n/a" when it was not measured.
func fmtOpt(s figure.Spread, format string) string {
	if s.Runs == 0 {
		return "n/a"
	}
	return fmt.Sprintf(format, s.Median)
}
