package ingest

import (
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// conn is one client connection's state: the slots of its publishes that
// wait for the spool, and the acks the spool has completed, which its acker
// goroutine writes in order.
type conn struct {
	cl    *mqtt.Client
	slots chan struct{} // taken by OnPublish, given back by the acker
	acks  chan ack      // as big as slots, so a spool callback never blocks
	gone  chan struct{} // closed when the client disconnects
}

type ack struct {
	pk     packets.Packet
	err    error
	queued time.Time
}

// conn returns the client's state, starting its acker on first use. Only
// the client's read loop calls it, so there is no race to create it.
func (b *Broker) conn(cl *mqtt.Client) *conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.conns[cl]; c != nil {
		return c
	}
	c := &conn{
		cl:    cl,
		slots: make(chan struct{}, b.opts.MaxInflight),
		acks:  make(chan ack, b.opts.MaxInflight),
		gone:  make(chan struct{}),
	}
	b.conns[cl] = c
	b.wg.Go(func() { b.runAcker(c) })
	return c
}

// runAcker writes the connection's acks until it has gone and nothing it
// published is still waiting for the spool.
func (b *Broker) runAcker(c *conn) {
	for {
		select {
		case a := <-c.acks:
			b.complete(c, a)
		case <-c.gone:
			for len(c.slots) > 0 {
				b.complete(c, <-c.acks)
			}
			return
		}
	}
}

// complete acknowledges one publish the spool has finished with, and on
// success delivers it to local subscribers.
func (b *Broker) complete(c *conn, a ack) {
	defer func() { <-c.slots }()
	qos := a.pk.FixedHeader.Qos
	if a.err != nil {
		b.m.refused.WithLabelValues(reason(a.err)).Inc()
		if qos > 0 && c.cl.Properties.ProtocolVersion == 5 {
			b.write(c, ackPacket(a.pk, codeFor(a.err)))
		}
		return // MQTT 3: no ack; the client sends it again
	}
	b.m.ackLatency.Observe(time.Since(a.queued).Seconds())
	switch qos {
	case 1:
		b.write(c, ackPacket(a.pk, packets.CodeSuccess))
	case 2:
		rec := ackPacket(a.pk, packets.CodeSuccess)
		rec.FixedHeader.Type = packets.Pubrec
		c.cl.State.Inflight.Set(rec) // so that mochi finds it when PUBREL comes
		b.write(c, rec)
	}
	_ = b.server.Publish(a.pk.TopicName, a.pk.Payload, a.pk.FixedHeader.Retain, qos)
}

func (b *Broker) write(c *conn, pk packets.Packet) {
	if err := c.cl.WritePacket(pk); err == nil {
		b.m.acks.Inc()
	}
}

// ackPacket is the PUBACK for pk with a reason code (MQTT 5 only sends it).
func ackPacket(pk packets.Packet, code packets.Code) packets.Packet {
	return packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Puback},
		PacketID:    pk.PacketID,
		ReasonCode:  code.Code,
		Created:     time.Now().Unix(),
	}
}
