package ingest

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-io/tributary/internal/promreg"
)

type metrics struct {
	set        *promreg.Set
	publishes  *prometheus.CounterVec
	acks       prometheus.Counter
	refused    *prometheus.CounterVec
	unrouted   prometheus.Counter
	ackLatency prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_mqtt_publishes_total",
			Help: "PUBLISH packets received from clients, by QoS."}, []string{"qos"}),
		acks: prometheus.NewCounter(prometheus.CounterOpts{Name: "tributary_mqtt_acks_total",
			Help: "PUBACK and PUBREC packets written after the spool committed (or refused) a publish."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_mqtt_refused_total",
			Help: "Publishes not stored, by reason: payload, full, closing, error."}, []string{"reason"}),
		unrouted: prometheus.NewCounter(prometheus.CounterOpts{Name: "tributary_mqtt_unrouted_total",
			Help: "Publishes on topics no route matches, not stored."}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tributary_mqtt_ack_seconds",
			Help:    "From queueing a publish with the spool to its durable commit.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}),
	}
	var err error
	if m.set, err = promreg.Register(reg, m.publishes, m.acks, m.refused, m.unrouted, m.ackLatency); err != nil {
		return nil, fmt.Errorf("ingest: register metrics: %w", err)
	}
	return m, nil
}

func (m *metrics) unregister() { m.set.Unregister() }
