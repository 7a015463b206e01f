package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-io/tributary/bench/internal/figure"
	benchproc "github.com/tributary-io/tributary/bench/internal/proc"
	"github.com/tributary-io/tributary/spool"
)

// Section 3: commit latency at a fixed offered load, open loop. Every
// millisecond a generator submits rate/1000 records, one AppendAsync each,
// on schedule whether or not earlier ones completed; a record's latency is
// its completion time minus its scheduled time, so a stall (or a late
// generator) counts in full instead of slowing the load down.

const tick = time.Millisecond

type latRun struct {
	p50, p99, p999, max time.Duration
	lagP99, lagMax      time.Duration // how late the generator submitted a tick
	svcP99              time.Duration // p99 of completion − actual submission
	writtenPerByte      float64       // -1: unknown
	samples             int
	cpuPerM             float64
	cores               float64 // process CPU time / wall time
	achieved            float64 // completed records per second of schedule
	commits             commitStats
}

type latResult struct {
	OfferedPerS     int           `json:"offered_records_per_s"`
	DurationS       float64       `json:"duration_s"`
	SamplesPerRun   int           `json:"samples_per_run"`
	Percentiles     string        `json:"percentiles"`
	P50Ms           figure.Spread `json:"p50_ms"`
	P99Ms           figure.Spread `json:"p99_ms"`
	P999Ms          figure.Spread `json:"p99_9_ms"`
	SubmittedP99Ms  figure.Spread `json:"p99_from_submission_ms"`
	MaxMs           figure.Spread `json:"max_ms"`
	GeneratorLagP99 figure.Spread `json:"generator_lag_p99_ms"`
	GeneratorLagMs  figure.Spread `json:"generator_lag_max_ms"`
	AchievedPerS    figure.Spread `json:"achieved_records_per_s"`
	PerCommit       figure.Spread `json:"records_per_commit"`
	CommitMs        figure.Spread `json:"mean_commit_ms"`
	CommitP99Ms     figure.Spread `json:"commit_p99_ms_bucket_bound"`
	WrittenPerByte  figure.Spread `json:"written_per_payload_byte"` // Runs 0: unknown
	CPU             figure.Spread `json:"cpu_s_per_1m"`
	Cores           figure.Spread `json:"cpu_cores_busy"`
}

// profileLatency writes a CPU profile of one extra latency run (not
// counted in the results).
func profileLatency(c config, w *workload) error {
	return profileTo(c.latProfile, func() error {
		return withSpool(c, func(s *testSpool) error {
			_, err := latencyOnce(s, w, c.rate, c.latencyDur)
			return err
		})
	})
}

func measureLatency(c config, w *workload) (*latResult, error) {
	var runs []latRun
	for i := range c.runs + 1 {
		d := c.latencyDur
		if i == 0 {
			d = warmDuration(c.latencyDur)
		}
		var r latRun
		err := withSpool(c, func(s *testSpool) (err error) {
			r, err = latencyOnce(s, w, c.rate, d)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("latency run: %w", err)
		}
		if i > 0 {
			runs = append(runs, r)
		}
	}
	return summariseLatency(c, runs), nil
}

// openLoop is one latency run's generator and its samples.
type openLoop struct {
	s       *testSpool
	w       *workload
	perTick int
	lat     []time.Duration // completion − scheduled time, per record
	svc     []time.Duration // completion − submission time, per record
	lags    []time.Duration // submission − scheduled time, per tick
	wg      sync.WaitGroup
	failed  atomic.Pointer[error]
}

// latencyOnce offers rate records/s for d and returns the exact
// percentiles of all samples.
func latencyOnce(s *testSpool, w *workload, rate int, d time.Duration) (latRun, error) {
	ticks := int(d / tick)
	g := &openLoop{s: s, w: w, perTick: rate / 1000, lags: make([]time.Duration, ticks)}
	g.lat, g.svc = make([]time.Duration, ticks*g.perTick), make([]time.Duration, ticks*g.perTick)
	before := s.stats()
	cpu0, _ := benchproc.SelfCPU()
	wb0, ok0 := writeBytes()
	start := time.Now()
	err := g.run(start, ticks)
	g.wg.Wait()
	if e := g.failed.Load(); err == nil && e != nil {
		err = fmt.Errorf("append async: %w", *e)
	}
	if err != nil {
		return latRun{}, err
	}
	elapsed := time.Since(start)
	cpu1, _ := benchproc.SelfCPU()
	wb1, ok1 := writeBytes()
	r := g.result(elapsed, s.stats().sub(before))
	r.cores = (cpu1 - cpu0).Seconds() / elapsed.Seconds()
	r.cpuPerM = (cpu1 - cpu0).Seconds() / float64(len(g.lat)) * 1e6
	r.writtenPerByte = -1
	if ok0 && ok1 {
		keys, values := w.sizeOf(uint64(len(g.lat)))
		r.writtenPerByte = float64(wb1-wb0) / float64(keys+values)
	}
	return r, nil
}

// run submits every tick on schedule, sleeping only while ahead of it.
func (g *openLoop) run(start time.Time, ticks int) error {
	for t := range ticks {
		sched := start.Add(time.Duration(t) * tick)
		if wait := time.Until(sched); wait > 0 {
			time.Sleep(wait)
		}
		g.lags[t] = time.Since(sched)
		for j := range g.perTick {
			if err := g.submit(t*g.perTick+j, sched); err != nil {
				return err
			}
		}
	}
	return nil
}

// submit appends record idx; its callback only stores the latencies.
func (g *openLoop) submit(idx int, sched time.Time) error {
	sent := time.Now()
	done := func(r spool.Result) {
		now := time.Now()
		g.lat[idx], g.svc[idx] = now.Sub(sched), now.Sub(sent)
		if r.Err != nil {
			g.failed.CompareAndSwap(nil, &r.Err)
		}
		g.wg.Done()
	}
	g.wg.Add(1)
	if err := g.s.AppendAsync(context.Background(), streamName, []spool.Record{g.w.at(uint64(idx))}, done); err != nil {
		g.wg.Done()
		return fmt.Errorf("append async: %w", err)
	}
	return nil
}

// result sorts the samples; elapsed runs from the first scheduled
// submission to the last completion.
func (g *openLoop) result(elapsed time.Duration, cs commitStats) latRun {
	for _, d := range [][]time.Duration{g.lat, g.svc, g.lags} {
		slices.Sort(d)
	}
	lat := g.lat
	return latRun{p50: figure.Percentile(lat, 0.50), p99: figure.Percentile(lat, 0.99), p999: figure.Percentile(lat, 0.999),
		max: lat[len(lat)-1], svcP99: figure.Percentile(g.svc, 0.99), lagP99: figure.Percentile(g.lags, 0.99), lagMax: g.lags[len(g.lags)-1],
		samples: len(lat), achieved: float64(len(lat)) / elapsed.Seconds(), commits: cs}
}

func summariseLatency(c config, runs []latRun) *latResult {
	pick := func(f func(latRun) float64) figure.Spread {
		var v []float64
		for _, r := range runs {
			v = append(v, f(r))
		}
		return figure.Of(v)
	}
	res := &latResult{OfferedPerS: c.rate, DurationS: c.latencyDur.Seconds(), SamplesPerRun: runs[0].samples,
		Percentiles: "exact, from the sorted latencies of every record of a run (not HDR-bucketed); median over runs",
		P50Ms:       pick(func(r latRun) float64 { return figure.Ms(r.p50) }), P99Ms: pick(func(r latRun) float64 { return figure.Ms(r.p99) }),
		P999Ms: pick(func(r latRun) float64 { return figure.Ms(r.p999) }), MaxMs: pick(func(r latRun) float64 { return figure.Ms(r.max) }),
		SubmittedP99Ms:  pick(func(r latRun) float64 { return figure.Ms(r.svcP99) }),
		GeneratorLagP99: pick(func(r latRun) float64 { return figure.Ms(r.lagP99) }),
		GeneratorLagMs:  pick(func(r latRun) float64 { return figure.Ms(r.lagMax) }),
		AchievedPerS:    pick(func(r latRun) float64 { return r.achieved }),
		CPU:             pick(func(r latRun) float64 { return r.cpuPerM }),
		Cores:           pick(func(r latRun) float64 { return r.cores })}
	if runs[0].writtenPerByte >= 0 {
		res.WrittenPerByte = pick(func(r latRun) float64 { return r.writtenPerByte })
	}
	if runs[0].commits.fromMetrics {
		res.PerCommit = pick(func(r latRun) float64 { return r.commits.records / max(r.commits.commits, 1) })
		res.CommitMs = pick(func(r latRun) float64 { return r.commits.commitSecs / max(r.commits.commits, 1) * 1e3 })
		res.CommitP99Ms = pick(func(r latRun) float64 { return r.commits.quantileMs(0.99) })
	}
	return res
}

// latencyTable is section 3's table, beside the disk's sync floor.
func (r *report) latencyTable() *figure.Table {
	l := r.Latency
	t := &figure.Table{Title: fmt.Sprintf("3. Commit latency at a fixed offered load of %d records/s (open loop, %v per run)", l.OfferedPerS, r.cfg.latencyDur),
		Header: []string{"figure", "median (min–max)", "floor", "vs floor"}}
	floor := -1.0
	if r.Sync != nil {
		floor = 2 * r.Sync.AppendP99Ms.Median
	}
	floorStr := "n/a"
	if floor > 0 {
		floorStr = figure.MsStr(floor) + " (2 × sync p99)"
	}
	t.Row("p50", figure.MsSpread(l.P50Ms), "", "")
	t.Row("p99", figure.MsSpread(l.P99Ms), floorStr, figure.Ratio(l.P99Ms.Median, floor))
	t.Row("p99.9", figure.MsSpread(l.P999Ms), "", "")
	t.Row("max", figure.MsSpread(l.MaxMs), "", "")
	t.Row("achieved rate", figure.RateSpread(l.AchievedPerS), "", "")
	t.Row("p99 from actual submission", figure.MsSpread(l.SubmittedP99Ms), "", "")
	t.Row("generator lag, p99", figure.MsSpread(l.GeneratorLagP99), "", "")
	t.Row("generator lag, max", figure.MsSpread(l.GeneratorLagMs), "", "")
	t.Row("records per commit", fmtOpt(l.PerCommit, "%.1f"), "", "")
	t.Row("commit time, mean", fmtOpt(l.CommitMs, "%.3f")+"ms", "", "")
	t.Row("commit time, p99 (≤ bucket bound)", fmtOpt(l.CommitP99Ms, "%.1f")+"ms", "", "")
	t.Row("process CPU, cores busy", figure.NumSpread(l.Cores, "%.2f"), "", "")
	t.Row("CPU-s/1M rec", cpuStr(l.CPU), "", "")
	t.Row("bytes written per payload byte", fmtOpt(l.WrittenPerByte, "%.2f"), "", "")
	t.Note("%d records per run, each its own AppendAsync, %d every %v; latency = completion − scheduled time; generator lag = how late a tick's submissions began (counted in the latencies)", l.SamplesPerRun, l.OfferedPerS/1000, tick)
	t.Note("percentiles are %s", l.Percentiles)
	if r.Sync != nil {
		t.Note("disk sync p50 %s, p99 %s (1a, appending); bbolt syncs twice per commit, so the floor is ~2 × sync latency; tier of both: %s",
			figure.MsStr(r.Sync.AppendP50Ms.Median), figure.MsStr(r.Sync.AppendP99Ms.Median), tierFsync)
	}
	t.Note("the spool's Linger (default 2 ms) adds up to that much to a commit that starts with an idle queue")
	for _, v := range r.verdicts() {
		if v.Section == 3 {
			t.Note("%s", v.Line())
		}
	}
	return t
}
