package ingest

import (
	"fmt"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/time/rate"
)

// conn is one client connection's state: what it may do, and its
// publishes, in the order they came, waiting for their outcome. An acker
// goroutine answers them in that order while there are any; an idle
// connection has none, and no queue, so that ten thousand sensors that
// publish once a minute cost little memory.
type conn struct {
	cl      *mqtt.Client
	user    string // authenticated username or certificate identity; "" anonymous
	grants  grants
	limiter *rate.Limiter // nil: no rate limit
	slots   chan struct{} // cap MaxInflight: a publish holds one until answered

	mu      sync.Mutex
	queue   []*pending          // publish order
	running bool                // an acker is answering queue
	qos2    map[uint16]*pending // QoS 2 publishes not answered yet, by packet id
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
	reason string       // kindRefused: the metric's reason label
	err    error        // kindStored: the spool's result
	dupOf  *pending     // a QoS 2 resend of this earlier publish, not stored again
	queued time.Time
	done   chan struct{}
}

func (p *pending) finish() { close(p.done) }

// refuse settles p as refused before reaching the spool.
func (p *pending) refuse(code packets.Code, final bool, reason string) {
	p.kind, p.code, p.final, p.reason = kindRefused, code, final, reason
	p.finish()
}

// newConn is a client's state once it is in.
func (b *Broker) newConn(cl *mqtt.Client) *conn {
	c := &conn{cl: cl, user: string(cl.Properties.Username), slots: make(chan struct{}, b.opts.MaxInflight)}
	c.grants = grantsFor(b.opts.ACL, c.user, cl.ID)
	if r := b.opts.MaxMessageRate; r > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(r), max(1, int(r)))
	}
	return c
}

// lookup is the state of a client that is in; nil for the inline client
// and for clients whose session is not established.
func (b *Broker) lookup(cl *mqtt.Client) *conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns[cl]
}

// enqueue puts p at the end of c's queue, waiting for a slot, and starts
// the acker if none runs. False if the broker is closing.
func (b *Broker) enqueue(c *conn, p *pending) bool {
	select {
	case c.slots <- struct{}{}:
	default: // MaxInflight reached: hold the read loop until acks go out (backpressure)
		b.m.limited.WithLabelValues("inflight").Inc()
		select {
		case c.slots <- struct{}{}:
		case <-b.ctx.Done():
			return false
		}
	}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		b.wg.Go(func() { b.runAcker(c) })
	}
	return true
}

// runAcker answers the connection's publishes in order until none is left.
func (b *Broker) runAcker(c *conn) {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.queue, c.running = nil, false
			c.mu.Unlock()
			return
		}
		p := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.mu.Unlock()
		<-p.done
		b.complete(c, p)
		<-c.slots
	}
}

// dupQoS2 registers a QoS 2 publish until it is answered, and returns the
// earlier publish with the same packet id if there is one: then p is that
// one sent again (DUP). Once the PUBREC is out, mochi itself answers
// resends from its in-flight PUBREC; but a resend that passed mochi's check
// just before the PUBREC went out is caught here too, as answeredQoS2
// removes an id only after answer has put its PUBREC in flight.
func (c *conn) dupQoS2(p *pending) *pending {
	c.mu.Lock()
	defer c.mu.Unlock()
	if orig := c.qos2[p.pk.PacketID]; orig != nil {
		return orig
	}
	if ack, ok := c.cl.State.Inflight.Get(p.pk.PacketID); ok && ack.FixedHeader.Type == packets.Pubrec {
		return answeredQoS2
	}
	if c.qos2 == nil {
		c.qos2 = map[uint16]*pending{}
	}
	c.qos2[p.pk.PacketID] = p
	return nil
}

// answeredQoS2 stands for a QoS 2 publish already stored and answered.
var answeredQoS2 = &pending{kind: kindStored}

// forgetQoS2 forgets a QoS 2 publish once answered.
func (c *conn) forgetQoS2(p *pending) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.qos2[p.pk.PacketID] == p {
		delete(c.qos2, p.pk.PacketID)
	}
	if len(c.qos2) == 0 {
		c.qos2 = nil
	}
}

// complete answers one publish whose outcome is known.
func (b *Broker) complete(c *conn, p *pending) {
	if o := p.dupOf; o != nil {
		b.completeDup(c, p, o)
		return
	}
	if p.pk.FixedHeader.Qos == 2 {
		defer c.forgetQoS2(p)
	}
	if p.kind == kindStored && p.err == nil {
		b.m.ackLatency.Observe(time.Since(p.queued).Seconds())
	}
	if p.kind == kindUnrouted || (p.kind == kindStored && p.err == nil) {
		b.answer(c, p.pk, packets.CodeSuccess)
		_ = b.server.Publish(p.pk.TopicName, p.pk.Payload, b.retain(p.pk), p.pk.FixedHeader.Qos)
		return
	}
	code, final := p.code, p.final
	if p.kind == kindStored {
		code = codeFor(p.err)
		b.m.refused.WithLabelValues(reason(p.err)).Inc()
	} else {
		b.m.refused.WithLabelValues(p.reason).Inc()
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

// completeDup answers a QoS 2 resend as its original was answered (the
// original came first, so its answer is out), without storing or
// delivering it again.
func (b *Broker) completeDup(c *conn, p, orig *pending) {
	code := packets.CodeSuccess
	switch {
	case orig.kind == kindRefused:
		code = orig.code
	case orig.kind == kindStored && orig.err != nil:
		code = codeFor(orig.err)
	}
	if code.Code >= packets.ErrUnspecifiedError.Code && c.cl.Properties.ProtocolVersion != 5 {
		return // MQTT 3.1.1: as for the original, no ack (or it was disconnected)
	}
	b.answer(c, p.pk, code)
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

// retain tells whether a delivered publish may keep its retain flag: not
// when it would retain a message on a new topic past MaxRetained. An empty
// retained payload clears a topic and always passes.
func (b *Broker) retain(pk packets.Packet) bool {
	if !pk.FixedHeader.Retain || len(pk.Payload) == 0 {
		return pk.FixedHeader.Retain
	}
	r := b.server.Topics.Retained
	if r.Len() < b.opts.MaxRetained {
		return true
	}
	if _, ok := r.Get(pk.TopicName); ok {
		return true
	}
	b.m.limited.WithLabelValues("retained").Inc()
	return false
}
