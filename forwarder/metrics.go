package forwarder

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-io/tributary/internal/promreg"
)

type metrics struct {
	sentBatches, sentRecords, sentBytes prometheus.Counter
	ackedRecords, gapRecords            prometheus.Counter
	sessions, failures                  prometheus.Counter
	rtt                                 prometheus.Histogram
	inflight, connected                 prometheus.Gauge
	backlogRecords, backlogBytes        prometheus.Gauge
	oldestAge, fatal                    prometheus.Gauge
	set                                 *promreg.Set
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "tributary_forwarder_" + name, Help: help})
	}
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "tributary_forwarder_" + name, Help: help})
	}
	m := &metrics{
		sentBatches:    c("sent_batches_total", "Batches (and gaps) sent to the hub, resends after a reconnect included."),
		sentRecords:    c("sent_records_total", "Records sent to the hub, resends included."),
		sentBytes:      c("sent_bytes_total", "Batch bytes sent to the hub, as stored (compressed)."),
		ackedRecords:   c("acked_records_total", "Records the hub acknowledged as durable."),
		gapRecords:     c("gap_records_total", "Offsets reported to the hub as lost (dropped by retention before they were sent)."),
		sessions:       c("sessions_total", "Replication sessions opened."),
		failures:       c("failures_total", "Sessions that could not open or ended in error (each followed by a backoff: a reconnect)."),
		inflight:       g("inflight_batches", "Batches sent and not yet acknowledged."),
		connected:      g("connected", "1 while a session with the hub is open."),
		backlogRecords: g("backlog_records", "Records stored and not yet acknowledged by the hub (at the last heartbeat)."),
		backlogBytes:   g("backlog_bytes", "Stored bytes not yet acknowledged by the hub (estimate, at the last heartbeat)."),
		oldestAge:      g("oldest_unacked_age_seconds", "Age (by event time) of the oldest record not yet acknowledged by the hub (at the last heartbeat)."),
		fatal:          g("refused", "1 when the hub refused the last attempt in a way retrying will not heal (a wrong token or certificate): fix the credential."),
		rtt: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tributary_forwarder_ack_rtt_seconds",
			Help:    "Time from sending a batch to the hub's ack of it (the hub's commit included).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
	}
	set, err := promreg.Register(reg, m.sentBatches, m.sentRecords, m.sentBytes, m.ackedRecords, m.gapRecords, m.sessions,
		m.failures, m.inflight, m.connected, m.backlogRecords, m.backlogBytes, m.oldestAge, m.fatal, m.rtt)
	if err != nil {
		return nil, err
	}
	m.set = set
	return m, nil
}
