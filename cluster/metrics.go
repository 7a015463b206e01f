package cluster

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-io/tributary/internal/promreg"
)

type metrics struct {
	sessions     prometheus.Gauge
	sessionsOpen *prometheus.CounterVec // result
	batches      prometheus.Counter
	records      prometheus.Counter
	bytes        prometheus.Counter
	trimmed      prometheus.Counter
	gapRecords   prometheus.Counter
	commit       prometheus.Histogram
	pending      prometheus.Gauge
	set          *promreg.Set
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tributary_hub_sessions", Help: "Replication sessions open now, one per connected site.",
		}),
		sessionsOpen: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_hub_session_ends_total",
			Help: "Replication sessions ended, by how: closed (the edge left), shutdown (the hub stopped), fenced (a newer session of the site), refused (authentication, a bad hello), hole, error.",
		}, []string{"result"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tributary_hub_batches_total", Help: "Batches (and gaps) received and committed.",
		}),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tributary_hub_records_total", Help: "Records committed to the hub's store, its spool or Kafka (after trimming).",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tributary_hub_received_bytes_total", Help: "Batch bytes received, as stored on the edge (compressed).",
		}),
		trimmed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tributary_hub_trimmed_records_total", Help: "Records received again and dropped because the checkpoint already held them.",
		}),
		gapRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tributary_hub_gap_records_total", Help: "Offsets reported lost by edges (their retention dropped them unsent).",
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tributary_hub_commit_seconds",
			Help:    "Time from a batch's arrival to its durable commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tributary_hub_pending_bytes",
			Help: "Record bytes received and not yet acknowledged (queued or committing), over all sessions; at most Options.MaxPendingBytes.",
		}),
	}
	set, err := promreg.Register(reg, m.sessions, m.sessionsOpen, m.batches, m.records, m.bytes, m.trimmed, m.gapRecords, m.commit, m.pending)
	if err != nil {
		return nil, err
	}
	m.set = set
	return m, nil
}
