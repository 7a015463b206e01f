package aggregator

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// pipelineMetrics are one pipeline's metrics (label pipeline).
type pipelineMetrics struct {
	in, out, gaps   prometheus.Counter
	commits, errors prometheus.Counter
	windowLate      atomic.Uint64 // late records steps counted through LateCounter
}

// metrics are the aggregator's collectors, registered in New.
type metrics struct {
	in, out, gaps, commits, errors *prometheus.CounterVec
	collectors                     []prometheus.Collector
}

func newMetrics() *metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tributary", Subsystem: "aggregator", Name: name, Help: help}, []string{"pipeline"})
	}
	m := &metrics{
		in:      counter("records_in_total", "Input records processed."),
		out:     counter("records_out_total", "Records appended to the output stream."),
		gaps:    counter("gap_records_total", "Input records lost to gaps (deleted before they were processed)."),
		commits: counter("commits_total", "Transactions committed (output, cursor and state)."),
		errors:  counter("errors_total", "Failures of a partition's processing (it restarts from its last commit)."),
	}
	m.collectors = []prometheus.Collector{m.in, m.out, m.gaps, m.commits, m.errors}
	return m
}

// pipeline returns a pipeline's metrics, adding the per-pipeline functions
// (which read its runners) to the collectors.
func (m *metrics) pipeline(a *Aggregator, pl *pipeline, runners []*runner) *pipelineMetrics {
	name := pl.cfg.Name
	pm := &pipelineMetrics{
		in: m.in.WithLabelValues(name), out: m.out.WithLabelValues(name), gaps: m.gaps.WithLabelValues(name),
		commits: m.commits.WithLabelValues(name), errors: m.errors.WithLabelValues(name),
	}
	labels := prometheus.Labels{"pipeline": name}
	opts := func(n, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "tributary", Subsystem: "aggregator", Name: n, Help: help, ConstLabels: labels}
	}
	m.collectors = append(m.collectors,
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("filtered_total", "Records a filter step dropped.")),
			func() float64 { return float64(pl.stats.filtered.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("expression_errors_total", "Records a filter or map could not evaluate (dropped).")),
			func() float64 { return float64(pl.stats.exprErrors.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("late_total", "Late records (after their window or bucket closed).")),
			func() float64 { return float64(pl.stats.late.Load() + pm.windowLate.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("state_bytes", "About how many bytes the steps' state holds, as of the last commit.")),
			func() float64 {
				n := int64(0)
				for _, r := range runners {
					n += r.stateSize.Load()
				}
				return float64(n)
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("lag_records", "Input records not yet committed as processed.")),
			func() float64 { return float64(a.lagRecords(pl, runners)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("lag_seconds", "Now minus the event time of the last processed record, on partitions with input waiting (0 when caught up).")),
			func() float64 { return a.lagSeconds(pl, runners) }),
	)
	return pm
}

func (a *Aggregator) lagRecords(pl *pipeline, runners []*runner) uint64 {
	var n uint64
	for _, r := range runners {
		if _, next, err := a.sp.Offsets(pl.cfg.From, r.part); err == nil && next > r.position.Load() {
			n += next - r.position.Load()
		}
	}
	return n
}

func (a *Aggregator) lagSeconds(pl *pipeline, runners []*runner) float64 {
	var lag float64
	for _, r := range runners {
		_, next, err := a.sp.Offsets(pl.cfg.From, r.part)
		t := r.lastTime.Load()
		if err != nil || next <= r.position.Load() || t == 0 {
			continue
		}
		lag = max(lag, a.opts.now().Sub(time.Unix(0, t)).Seconds())
	}
	return lag
}
