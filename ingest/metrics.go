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

	connects    *prometheus.CounterVec
	connections *prometheus.GaugeVec
	bytes       prometheus.Counter
	denied      *prometheus.CounterVec
	limited     *prometheus.CounterVec

	// Resolved once: a label lookup per publish costs a hash and a lock.
	publishesQoS                                  [3]prometheus.Counter // by QoS (mochi refuses QoS 3)
	limitedInflight, limitedRate, limitedRetained prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_mqtt_publishes_total",
			Help: "PUBLISH packets received from clients, by QoS."}, []string{"qos"}),
		acks: prometheus.NewCounter(prometheus.CounterOpts{Name: "tributary_mqtt_acks_total",
			Help: "PUBACK and PUBREC packets written after the spool committed (or refused) a publish."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_mqtt_refused_total",
			Help: "Publishes not stored, by reason: payload, full, closing, error, not_authorized, topic_too_long."},
			[]string{"reason"}),
		unrouted: prometheus.NewCounter(prometheus.CounterOpts{Name: "tributary_mqtt_unrouted_total",
			Help: "Publishes on topics no route matches, not stored."}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tributary_mqtt_ack_seconds",
			Help:    "From queueing a publish with the spool to its durable commit.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_mqtt_connects_total",
			Help: "CONNECTs answered, by result: accepted, bad_credentials, not_authorized, server_busy."},
			[]string{"result"}),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tributary_mqtt_connections",
			Help: "Clients connected now, by listener: tcp, tls, ws."}, []string{"listener"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "tributary_mqtt_received_bytes_total",
			Help: "Payload bytes of PUBLISH packets received from clients."}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_mqtt_denied_total",
			Help: "Publishes and subscriptions the ACL denied, by action: publish, subscribe."},
			[]string{"action"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_mqtt_limited_total",
			Help: "Times a limit took effect, by limit: rate (a publish delayed), inflight (a connection's " +
				"reads held until acks went out), write_queue (a delivery dropped), retained (a retain flag not kept)."}, []string{"limit"}),
	}
	for q := range m.publishesQoS {
		m.publishesQoS[q] = m.publishes.WithLabelValues(qosLabel(byte(q)))
	}
	m.limitedInflight = m.limited.WithLabelValues("inflight")
	m.limitedRate = m.limited.WithLabelValues("rate")
	m.limitedRetained = m.limited.WithLabelValues("retained")
	var err error
	if m.set, err = promreg.Register(reg, m.publishes, m.acks, m.refused, m.unrouted, m.ackLatency,
		m.connects, m.connections, m.bytes, m.denied, m.limited); err != nil {
		return nil, fmt.Errorf("ingest: register metrics: %w", err)
	}
	return m, nil
}

func (m *metrics) unregister() { m.set.Unregister() }
