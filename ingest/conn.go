package ingest

import (
	"fmt"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/time/rate"

	"github.com/tributary-io/tributary/spool"
)

// conn is one client connection's state: what it may do, and its
// publishes, in the order they came, waiting for their outcome. An acker
// goroutine answers them in that order while there are any, and lingers
// ackerLinger after; an idle connection has none, and no queue, so that ten
// thousand sensors that publish once a minute cost little memory.
//
// The acker is woken only when the publish at the head of the queue is
// settled, and then answers every settled publish from the head at once,
// their acks encoded into one write: a group commit that completes many
// publishes of a connection costs it one wake-up and one syscall, not one
// each.
type conn struct {
	cl      *mqtt.Client
	user    string // authenticated username or certificate identity; "" anonymous
	grants  grants
	limiter *rate.Limiter // nil: no rate limit
	slots   chan struct{} // cap MaxInflight: a publish holds one until answered
	kick    chan struct{} // buffer 1: the head of queue was settled

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
// it is settled and read by the acker after, both under c.mu.
//
// A pending is reused (pendings) once answered, unless something may still
// point at it: QoS 2 publishes are left to the garbage collector, as a
// resend's dupOf and c.qos2 refer to them.
type pending struct {
	c       *conn
	pk      publish // what of the PUBLISH is needed after it is read
	kind    int
	code    packets.Code // kindRefused
	final   bool         // kindRefused: sending it again cannot help
	reason  string       // kindRefused: the metric's reason label
	err     error        // kindStored: the spool's result
	dupOf   *pending     // a QoS 2 resend of this earlier publish, not stored again
	queued  time.Time
	settled bool // the outcome is known; guarded by c.mu

	stored func(spool.Result) // p.onStored, bound once for the life of p
	recs   [1]spool.Record    // the record AppendAsync holds until stored
}

// pendings recycles answered publishes, with their bound callback.
var pendings sync.Pool

// publish is what an answer and a delivery need of a PUBLISH: a fifth of
// a packets.Packet (800 bytes, which the pool would clear and the garbage
// collector scan).
type publish struct {
	TopicName string
	Payload   []byte
	PacketID  uint16
	Qos       byte
	Retain    bool
}

func newPending(c *conn, pk *packets.Packet, now time.Time) *pending {
	p, _ := pendings.Get().(*pending)
	if p == nil {
		p = new(pending)
		p.stored = p.onStored
	}
	p.c, p.queued = c, now
	p.pk = publish{TopicName: pk.TopicName, Payload: pk.Payload, PacketID: pk.PacketID,
		Qos: pk.FixedHeader.Qos, Retain: pk.FixedHeader.Retain}
	return p
}

// recycle returns an answered publish for reuse, if nothing may still
// refer to it.
func (p *pending) recycle() {
	if p.pk.Qos == 2 || p == answeredQoS2 {
		return
	}
	*p = pending{stored: p.stored}
	pendings.Put(p)
}

// onStored is the spool's callback: it runs on the committer goroutine and
// must not block.
func (p *pending) onStored(r spool.Result) {
	p.err = r.Err
	p.finish()
}

// finish settles p, waking the acker if p is what it waits for.
func (p *pending) finish() {
	c := p.c
	c.mu.Lock()
	p.settled = true
	head := len(c.queue) > 0 && c.queue[0] == p
	c.mu.Unlock()
	if head {
		c.wake()
	}
}

// refuse settles p as refused before reaching the spool.
func (p *pending) refuse(code packets.Code, final bool, reason string) {
	p.kind, p.code, p.final, p.reason = kindRefused, code, final, reason
	p.finish()
}

func (c *conn) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// newConn is a client's state once it is in.
func (b *Broker) newConn(cl *mqtt.Client) *conn {
	c := &conn{cl: cl, user: string(cl.Properties.Username), slots: make(chan struct{}, b.opts.MaxInflight),
		kick: make(chan struct{}, 1)}
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
		b.m.limitedInflight.Inc()
		select {
		case c.slots <- struct{}{}:
		case <-b.ctx.Done():
			return false
		}
	}
	b.queued.Add(1)
	c.mu.Lock()
	c.queue = append(c.queue, p)
	start := !c.running
	c.running = true
	kick := !start && c.queue[0] == p && p.settled
	c.mu.Unlock()
	if start {
		b.wg.Go(func() { b.runAcker(c) })
	}
	if kick {
		c.wake()
	}
	return true
}

// ackerLinger is how long an acker waits with nothing queued before it
// ends.
const ackerLinger = 100 * time.Millisecond

// ackerScratch is an acker's working space, kept between ackers: an acker
// ends whenever its queue is empty, as often as once per commit, and its
// slice of acks (packets are large) would be grown again each time.
type ackerScratch struct {
	batch []*pending
	acks  []packets.Packet
}

var ackerScratches sync.Pool

// runAcker answers the connection's publishes in order until none is left:
// each time the head of the queue is settled, every settled publish from
// the head.
func (b *Broker) runAcker(c *conn) {
	s, _ := ackerScratches.Get().(*ackerScratch)
	if s == nil {
		s = new(ackerScratch)
	}
	defer ackerScratches.Put(s)
	batch, acks := s.batch[:0], s.acks[:0]
	defer func() { s.batch, s.acks = batch[:0], acks[:0] }()
	var idleTimer *time.Timer
	defer func() {
		if idleTimer != nil {
			idleTimer.Stop()
		}
	}()
	idle := false // the queue stayed empty for ackerLinger
	for {
		c.mu.Lock()
		n := 0
		for n < len(c.queue) && c.queue[n].settled {
			n++
		}
		if n == 0 {
			if len(c.queue) == 0 && idle {
				c.queue, c.running = nil, false
				c.mu.Unlock()
				return
			}
			wait := len(c.queue) == 0
			c.mu.Unlock()
			if !wait {
				<-c.kick
				continue
			}
			// Nothing queued: linger a little before ending, so that a
			// connection that publishes steadily keeps its acker (a new
			// goroutine per commit grew its stack anew each time).
			if idleTimer == nil {
				idleTimer = time.NewTimer(ackerLinger)
			} else {
				idleTimer.Reset(ackerLinger)
			}
			select {
			case <-c.kick:
			case <-idleTimer.C:
				idle = true
			case <-b.ctx.Done():
				idle = true
			}
			continue
		}
		idle = false
		batch = append(batch[:0], c.queue[:n]...)
		clear(c.queue[:n])
		c.queue = c.queue[n:]
		c.mu.Unlock()
		acks = b.completeBatch(c, batch, acks[:0])
		clear(batch)
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

// completeBatch answers settled publishes, in order: their acks go out in
// one write, then the messages are delivered to local subscribers, then
// their slots are freed. acks is scratch space, returned for reuse.
// Packets are large (800 bytes): acks are filled in place.
func (b *Broker) completeBatch(c *conn, batch []*pending, acks []packets.Packet) []packets.Packet {
	now := time.Now()
	for _, p := range batch {
		code, send, stop := b.complete(c, p, now)
		if send {
			acks = append(acks, packets.Packet{})
			b.ack(c, &acks[len(acks)-1], &p.pk, code)
		}
		if stop != nil {
			// MQTT 3.1.1 has no refusal but closing the connection: what was
			// answered before goes out first.
			b.writeAcks(c, acks)
			acks = acks[:0]
			c.cl.Stop(stop)
		}
	}
	b.writeAcks(c, acks)
	for _, p := range batch {
		if p.dupOf == nil && (p.kind == kindUnrouted || (p.kind == kindStored && p.err == nil)) {
			b.deliver(&p.pk)
		}
		if p.dupOf == nil && p.pk.Qos == 2 {
			c.forgetQoS2(p)
		}
		<-c.slots
		p.recycle()
	}
	b.queued.Add(-int64(len(batch)))
	clear(acks)
	return acks[:0]
}

// complete works out one settled publish's answer: whether to send its
// PUBACK (QoS 1) or PUBREC (QoS 2), with which reason code (MQTT 5 clients
// see it), or why the connection must end.
func (b *Broker) complete(c *conn, p *pending, now time.Time) (code packets.Code, send bool, stop error) {
	send = p.pk.Qos > 0
	if o := p.dupOf; o != nil {
		code, send = completeDup(c, o)
		return code, send, nil
	}
	if p.kind == kindUnrouted || (p.kind == kindStored && p.err == nil) {
		if p.kind == kindStored {
			b.m.ackLatency.Observe(now.Sub(p.queued).Seconds())
		}
		return packets.CodeSuccess, send, nil
	}
	code, final := p.code, p.final
	if p.kind == kindStored {
		code = codeFor(p.err)
		b.m.refused.WithLabelValues(reason(p.err)).Inc()
	} else {
		b.m.refused.WithLabelValues(p.reason).Inc()
	}
	switch {
	case !send: // QoS 0
	case c.cl.Properties.ProtocolVersion == 5:
		return code, true, nil
	case final:
		// A publish that can never be stored must not be resent forever.
		return code, false, fmt.Errorf("publish refused: %s", code.Reason)
	}
	// MQTT 3.1.1, transient: no ack; the client sends it again.
	return code, false, nil
}

// completeDup answers a QoS 2 resend as its original was answered (the
// original came first, so its answer is out), without storing or
// delivering it again.
func completeDup(c *conn, orig *pending) (code packets.Code, send bool) {
	code = packets.CodeSuccess
	switch {
	case orig.kind == kindRefused:
		code = orig.code
	case orig.kind == kindStored && orig.err != nil:
		code = codeFor(orig.err)
	}
	if code.Code >= packets.ErrUnspecifiedError.Code && c.cl.Properties.ProtocolVersion != 5 {
		return code, false // MQTT 3.1.1: as for the original, no ack (or it was disconnected)
	}
	return code, true
}

// ack fills in a publish's PUBACK (QoS 1) or PUBREC (QoS 2) with a reason
// code. A successful PUBREC is put in flight here, before it is written, so
// that mochi finds it when PUBREL comes.
func (b *Broker) ack(c *conn, ack *packets.Packet, pk *publish, code packets.Code) {
	ack.FixedHeader.Type = packets.Puback
	ack.PacketID = pk.PacketID
	ack.ReasonCode = code.Code
	if pk.Qos == 2 {
		ack.FixedHeader.Type = packets.Pubrec
		if code.Code < packets.ErrUnspecifiedError.Code {
			ack.Created = time.Now().Unix() // mochi's in-flight expiry counts from it
			c.cl.State.Inflight.Set(*ack)
		}
	}
}

// writeAcks writes acks in one write. Acks that cannot be written end the
// connection, so that the client resends rather than waits forever.
func (b *Broker) writeAcks(c *conn, acks []packets.Packet) {
	if len(acks) == 0 {
		return
	}
	if err := c.cl.WritePackets(acks); err != nil {
		c.cl.Stop(fmt.Errorf("writing an ack: %w", err))
		return
	}
	b.m.acks.Add(float64(len(acks)))
}

// deliver hands a stored (or unrouted) publish to local subscribers, and
// retains it. With no subscription at all and nothing to retain there is
// nothing to do: mochi would match the topic, allocating as it goes, to
// find no one.
func (b *Broker) deliver(pk *publish) {
	if !pk.Retain && !b.server.Topics.HasSubscriptions() {
		return
	}
	_ = b.server.Publish(pk.TopicName, pk.Payload, b.retain(pk), pk.Qos)
}

// retain tells whether a delivered publish may keep its retain flag: not
// when it would retain a message on a new topic past MaxRetained. An empty
// retained payload clears a topic and always passes.
func (b *Broker) retain(pk *publish) bool {
	if !pk.Retain || len(pk.Payload) == 0 {
		return pk.Retain
	}
	r := b.server.Topics.Retained
	if r.Len() < b.opts.MaxRetained {
		return true
	}
	if _, ok := r.Get(pk.TopicName); ok {
		return true
	}
	b.m.limitedRetained.Inc()
	return false
}
