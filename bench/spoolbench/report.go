package main

import (
	"fmt"
	"io"
	"time"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

// report holds every result; absent sections stay nil.
type report struct {
	cfg      config
	progress io.Writer
	began    time.Time

	Settings   settings         `json:"settings"`
	Sync       *syncResult      `json:"fsync,omitempty"`
	Raw        *rawResult       `json:"raw_bbolt,omitempty"`
	Zstd       *zstdResult      `json:"zstd,omitempty"`
	Throughput *tpResult        `json:"append_throughput,omitempty"`
	Latency    *latResult       `json:"commit_latency,omitempty"`
	Volume     *volResult       `json:"stored,omitempty"`
	Verdicts   []figure.Verdict `json:"targets"`
	ElapsedS   float64          `json:"elapsed_s"`
}

func (r *report) has(n int) bool { return r.cfg.has(n) }

// step reports progress (on stderr, not in the results).
func (r *report) step(format string, args ...any) {
	fmt.Fprintf(r.progress, "[%5.1fs] %s\n", time.Since(r.began).Seconds(), fmt.Sprintf(format, args...))
}

// measure runs the chosen sections in order and prints each table as soon
// as it is known.
func (r *report) measure(w *workload, out io.Writer) error {
	r.began = time.Now()
	steps := []struct {
		on  bool
		run func(*workload, io.Writer) error
	}{
		{r.has(1), r.runLimits},
		{r.has(2), r.runThroughput},
		{r.has(3), r.runLatency},
		{r.has(4) || r.has(5) || r.has(6), r.runVolume},
	}
	for _, s := range steps {
		if !s.on {
			continue
		}
		if err := s.run(w, out); err != nil {
			return err
		}
	}
	r.ElapsedS = time.Since(r.began).Seconds()
	return nil
}

func (r *report) runLimits(w *workload, out io.Writer) (err error) {
	r.step("section 1a: write+%s latency", datasyncName)
	if r.Sync, err = measureSync(r.cfg); err != nil {
		return err
	}
	r.step("section 1b: raw bbolt puts, %s records per run", count(r.cfg.records))
	if r.Raw, err = measureRaw(r.cfg, w); err != nil {
		return err
	}
	r.step("section 1c: zstd")
	if r.Zstd, err = measureZstd(r.cfg, w); err != nil {
		return err
	}
	r.limitsTable().Print(out)
	return nil
}

func (r *report) runThroughput(w *workload, out io.Writer) (err error) {
	r.step("section 2: append throughput, %d cases × (1 warm-up + %d runs) of %v", len(tpCases()), r.cfg.runs, r.cfg.duration)
	if r.Throughput, err = measureThroughput(r.cfg, w); err != nil {
		return err
	}
	raw := r.rawRate()
	for i := range r.Throughput.Rows {
		if raw > 0 {
			r.Throughput.Rows[i].VsRaw = r.Throughput.Rows[i].Rate.Median / raw
		}
	}
	r.throughputTable().Print(out)
	return nil
}

func (r *report) runLatency(w *workload, out io.Writer) (err error) {
	r.step("section 3: latency at %d records/s, 1 warm-up + %d runs of %v", r.cfg.rate, r.cfg.runs, r.cfg.latencyDur)
	if r.Latency, err = measureLatency(r.cfg, w); err != nil {
		return err
	}
	r.latencyTable().Print(out)
	return nil
}

func (r *report) runVolume(w *workload, out io.Writer) (err error) {
	r.step("sections 4–6: fill %s records, read them, reopen; 1 warm-up + %d runs", count(r.cfg.records), r.cfg.runs)
	if r.Volume, err = measureVolume(r.cfg, w); err != nil {
		return err
	}
	for _, t := range r.volumeTables() {
		t.Print(out)
	}
	return nil
}

// profile runs the extra, profiled runs the flags ask for.
func (r *report) profile(w *workload) error {
	if r.cfg.cpuProfile != "" {
		r.step("profiling one extra async 256-producer run into %s", r.cfg.cpuProfile)
		if err := profileAsync(r.cfg, w); err != nil {
			return err
		}
	}
	if r.cfg.latProfile != "" {
		r.step("profiling one extra latency run into %s", r.cfg.latProfile)
		return profileLatency(r.cfg, w)
	}
	return nil
}

// rawRate is the raw bbolt put rate, or 0 if section 1 did not run.
func (r *report) rawRate() float64 {
	if r.Raw == nil {
		return 0
	}
	return r.Raw.PutRate.Median
}
