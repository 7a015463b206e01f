package ingest

import (
	"fmt"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// conn is one client connection's state: its publishes, in the order they
// came, waiting for their outcome; its acker goroutine answers them in that
// order.
type conn struct {
	cl    *mqtt.Client
	queue chan *pending // publish order; full (MaxInflight) holds the read loop
	gone  chan struct{} // closed when the client disconnects
}

// What became of a publish.
const (
	kindStored   = iota // queued with the spool; err says how it went
	kindUnrouted        // no route: acknowledged and delivered, not stored
	kindRefused         // refused before the spool: code says why
)

// pending is one publish awaiting its answer. Its fields are written before
// done is closed and read after.
type pending struct {
	pk     packets.Packet
	kind   int
	code   packets.Code // kindRefused
	final  bool         // kindRefused: sending it again cannot help
	err    error        // kindStored: the spool's result
	queued time.Time
	done   chan struct{}
}

func (p *pending) finish() { close(p.done) }

// conn returns the client's state, starting its acker on first use. Only
// the client's read loop calls it, so there is no race to create it.
func (b *Broker) conn(cl *mqtt.Client) *conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.conns[cl]; c != nil {
		return c
	}
	c := &conn{cl: cl, queue: make(chan *pending, b.opts.MaxInflight), gone: make(chan struct{})}
	b.conns[cl] = c
	b.wg.Go(func() { b.runAcker(c) })
	return c
}

// runAcker answers the connection's publishes in order until it has gone
// and none is left.
func (b *Broker) runAcker(c *conn) {
	for {
		select {
		case p := <-c.queue:
			<-p.done
			b.complete(c, p)
		case <-c.gone:
			for {
				select {
				case p := <-c.queue:
					<-p.done
					b.complete(c, p)
				default:
					return
				}
			}
		}
	}
}

// complete answers one publish whose outcome is known.
func (b *Broker) complete(c *conn, p *pending) {
	if p.kind == kindStored && p.err == nil {
		b.m.ackLatency.Observe(time.Since(p.queued).Seconds())
	}
	if p.kind == kindUnrouted || (p.kind == kindStored && p.err == nil) {
		b.answer(c, p.pk, packets.CodeSuccess)
		_ = b.server.Publish(p.pk.TopicName, p.pk.Payload, p.pk.FixedHeader.Retain, p.pk.FixedHeader.Qos)
		return
	}
	code, final := p.code, p.final
	if p.kind == kindStored {
		code = codeFor(p.err)
		b.m.refused.WithLabelValues(reason(p.err)).Inc()
	}
	switch {
	case p.pk.FixedHeader.Qos == 0:
	case c.cl.Properties.ProtocolVersion == 5:
		b.answer(c, p.pk, code)
	case final:
		// MQTT 3.1.1 has no refusal but closing the connection, and a
		// publish that can never be stored must not be resent forever.
		c.cl.Stop(fmt.Errorf("publish refused: %s", code.Reason))
	}
	// MQTT 3.1.1, transient: no ack; the client sends it again.
}

// answer writes a publish's PUBACK (QoS 1) or PUBREC (QoS 2) with a reason
// code (MQTT 5 clients see it). A successful PUBREC is put in flight so
// that mochi finds it when PUBREL comes. An ack that cannot be written ends
// the connection, so that the client resends rather than waits forever.
func (b *Broker) answer(c *conn, pk packets.Packet, code packets.Code) {
	ack := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Puback},
		PacketID:    pk.PacketID,
		ReasonCode:  code.Code,
		Created:     time.Now().Unix(),
	}
	switch pk.FixedHeader.Qos {
	case 0:
		return
	case 2:
		ack.FixedHeader.Type = packets.Pubrec
		if code.Code < packets.ErrUnspecifiedError.Code {
			c.cl.State.Inflight.Set(ack)
		}
	}
	if err := c.cl.WritePacket(ack); err != nil {
		c.cl.Stop(fmt.Errorf("writing an ack: %w", err))
		return
	}
	b.m.acks.Inc()
}
