package spool

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-io/tributary/internal/promreg"
)

// metrics are the spool's Prometheus metrics. They exist (and count) even
// when no Registerer was given.
type metrics struct {
	set *promreg.Set

	records   *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	commitDur prometheus.Histogram
	perCommit prometheus.Histogram
	commitErr prometheus.Counter
	dropped   *prometheus.CounterVec
	gaps      *prometheus.CounterVec
	full      *prometheus.CounterVec
	corrupt   prometheus.Counter
}

func newMetrics(s *Spool, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_spool_appended_records_total",
			Help: "Records committed to the spool."}, []string{"stream"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_spool_appended_bytes_total",
			Help: "Uncompressed bytes of the records committed to the spool (keys, values, headers)."}, []string{"stream"}),
		commitDur: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tributary_spool_commit_seconds",
			Help:    "Time of one group commit: encoding, bbolt transaction and fsync.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}),
		perCommit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tributary_spool_records_per_commit",
			Help: "Records written by one group commit.", Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
		commitErr: prometheus.NewCounter(prometheus.CounterOpts{Name: "tributary_spool_commit_errors_total",
			Help: "Group commits that failed (disk full, I/O error); their records were not acknowledged."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_spool_dropped_records_total",
			Help: "Records dropped before every protecting cursor had read them (drop_oldest policy)."}, []string{"stream"}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_spool_gaps_total",
			Help: "Gaps recorded for dropped records."}, []string{"stream"}),
		full: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_spool_full_rejections_total",
			Help: "Commits refused with ErrFull because a block-policy stream was full."}, []string{"stream"}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{Name: "tributary_spool_corrupt_batches_total",
			Help: "Damaged batches found by reads, retention or checks."}),
	}
	var err error
	m.set, err = promreg.Register(reg, m.records, m.bytes, m.commitDur, m.perCommit, m.commitErr, m.dropped, m.gaps, m.full, m.corrupt, diskCollector{s})
	if err != nil {
		return nil, fmt.Errorf("spool: register metrics (one spool per registry): %w", err)
	}
	return m, nil
}

func (m *metrics) unregister() { m.set.Unregister() }

func (m *metrics) observeCommit(c *commit, err error, d time.Duration) {
	if err != nil {
		m.commitErr.Inc()
		return
	}
	m.commitDur.Observe(d.Seconds())
	if c.records > 0 {
		m.perCommit.Observe(float64(c.records))
	}
	for _, pw := range c.order {
		if len(pw.recs) > 0 {
			m.records.WithLabelValues(pw.key.stream).Add(float64(len(pw.recs)))
			m.bytes.WithLabelValues(pw.key.stream).Add(float64(pw.raw))
		}
	}
	for s, n := range c.dropped {
		m.dropped.WithLabelValues(s).Add(float64(n))
	}
	for s, n := range c.gaps {
		m.gaps.WithLabelValues(s).Add(float64(n))
	}
	for s, n := range c.full {
		m.full.WithLabelValues(s).Add(float64(n))
	}
}

// diskCollector reports each stream's stored bytes as of the last commit.
type diskCollector struct{ s *Spool }

var diskDesc = prometheus.NewDesc("tributary_spool_stream_bytes",
	"Stored (compressed) bytes of a stream's batches, which its max_bytes bounds.", []string{"stream"}, nil)

func (d diskCollector) Describe(ch chan<- *prometheus.Desc) { ch <- diskDesc }

func (d diskCollector) Collect(ch chan<- prometheus.Metric) {
	d.s.mu.RLock()
	defer d.s.mu.RUnlock()
	for name, st := range d.s.streams {
		var sum int64
		for _, p := range st.parts {
			sum += p.bytes.Load()
		}
		ch <- prometheus.MustNewConstMetric(diskDesc, prometheus.GaugeValue, float64(sum), name)
	}
}
