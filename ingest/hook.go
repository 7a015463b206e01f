package ingest

import (
	"errors"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tributary-io/tributary/spool"
)

// hook puts the spool between a client's PUBLISH and its acknowledgement.
//
// mochi writes the PUBACK right after the OnPublish hooks return, so a hook
// that waited for the commit would hold the client's read loop for an
// fsync per message: one message in flight per connection. Instead OnPublish
// queues the record with the spool and returns ErrRejectPacket, which makes
// mochi do nothing more with the packet: no ack, no delivery. When the spool
// reports the record durable, the connection's acker goroutine writes the
// PUBACK (or PUBREC) and delivers the message to local subscribers through
// mochi's inline client. Every publish of a connection, stored or not
// (a topic no route matches, a payload its route refuses), goes into one
// queue in the order it was read, and the acker answers them from its head:
// acks go out in the order the PUBLISHes came, as MQTT requires.
type hook struct {
	mqtt.HookBase
	b *Broker
}

func (h *hook) ID() string { return "tributary-durable-ack" }

// Provides is asked by mochi on every hook call, so it must not allocate.
func (h *hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnSessionEstablished,
		mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnPublishDropped, mqtt.OnDisconnect:
		return true
	}
	return false
}

// OnConnect admits or refuses a client, answering a refusal itself so that
// the reason code is the right one for the client's MQTT version: mochi
// only knows "bad username or password". A client with a verified
// certificate is known by the certificate's identity (its username is
// replaced); else a username must come with its password; else anonymous
// access decides.
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	b := h.b
	refuse := func(v5, v3 packets.Code, result string) error {
		b.m.connects.WithLabelValues(result).Inc()
		code := v5
		if cl.Properties.ProtocolVersion < 5 {
			code = v3 // mochi turns it into the 3.1.1 return code
		}
		_ = b.server.SendConnack(cl, code, false, nil)
		return code
	}
	if _, known := b.server.Clients.Get(cl.ID); !known && b.server.Clients.Len() > b.opts.MaxClients {
		// Len counts mochi's inline client too, hence >.
		return refuse(packets.ErrServerBusy, packets.ErrServerUnavailable, "server_busy")
	}
	if cs, ok := connState(cl.Net.Conn); ok {
		if id, ok := certIdentity(cs); ok {
			cl.Properties.Username = []byte(id)
			return nil
		}
	}
	user := string(cl.Properties.Username)
	switch {
	case user != "" && b.opts.Users != nil:
		if !b.opts.Users.Check(user, pk.Connect.Password) {
			return refuse(packets.ErrBadUsernameOrPassword, packets.ErrBadUsernameOrPassword, "bad_credentials")
		}
		return nil
	case b.opts.AllowAnonymous:
		// Without a password file a username proves nothing: the client is
		// anonymous, whatever name it gives.
		cl.Properties.Username = nil
		return nil
	case user != "":
		return refuse(packets.ErrBadUsernameOrPassword, packets.ErrBadUsernameOrPassword, "bad_credentials")
	}
	return refuse(packets.ErrNotAuthorized, packets.ErrBadUsernameOrPassword, "not_authorized")
}

// OnConnectAuthenticate lets in what OnConnect did not refuse.
func (h *hook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

// OnSessionEstablished makes the client's state; from here on mochi calls
// OnDisconnect when it goes.
func (h *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	c := h.b.newConn(cl)
	h.b.mu.Lock()
	h.b.conns[cl] = c
	h.b.mu.Unlock()
	h.b.m.connects.WithLabelValues("accepted").Inc()
	h.b.m.connections.WithLabelValues(cl.Net.Listener).Inc()
}

func (h *hook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.b.mu.Lock()
	_, ok := h.b.conns[cl]
	delete(h.b.conns, cl)
	h.b.mu.Unlock()
	if ok {
		h.b.m.connections.WithLabelValues(cl.Net.Listener).Dec()
	}
}

// OnACLCheck decides subscriptions and deliveries (topic is a filter or a
// topic name). Publishes are decided in OnPublish, in their turn: mochi
// would answer a denied publish at once, ahead of earlier acks.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write || cl.Net.Inline {
		return true
	}
	c := h.b.lookup(cl)
	if c == nil || len(topic) > h.b.opts.MaxTopicLength || !c.grants.canSubscribe(topic) {
		h.b.m.denied.WithLabelValues("subscribe").Inc()
		return false
	}
	return true
}

// OnPublishDropped counts deliveries to a subscriber whose write queue
// was full.
func (h *hook) OnPublishDropped(*mqtt.Client, packets.Packet) {
	h.b.m.limited.WithLabelValues("write_queue").Inc()
}

func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // our own delivery after a commit
	}
	b := h.b
	b.active.Add(1)
	if b.draining.Load() { // closing: hold the publish unread (not stored, not acked) until the connection ends
		b.active.Add(-1)
		<-b.ctx.Done()
		return pk, errReject
	}
	defer b.active.Add(-1)
	c := b.lookup(cl)
	if c == nil { // not established: cannot happen, as mochi reads after that
		return pk, errReject
	}
	if c.limiter != nil {
		if !b.throttle(c) {
			return pk, errReject
		}
	}
	b.m.publishesQoS[min(pk.FixedHeader.Qos, 2)].Inc()
	b.m.bytes.Add(float64(len(pk.Payload)))
	p := newPending(c, &pk, time.Now())
	var stream string
	switch {
	case len(pk.TopicName) > b.opts.MaxTopicLength:
		p.refuse(packets.ErrTopicNameInvalid, true, "topic_too_long")
	case !c.grants.canPublish(pk.TopicName):
		b.m.denied.WithLabelValues("publish").Inc()
		p.refuse(packets.ErrNotAuthorized, true, "not_authorized")
	default:
		var ok bool
		var err error
		stream, p.recs[0], ok, err = b.route(pk.TopicName, pk.Payload, p.queued)
		switch {
		case err != nil:
			p.refuse(packets.ErrPayloadFormatInvalid, true, "payload")
		case !ok:
			b.m.unrouted.Inc()
			p.kind = kindUnrouted
			p.finish()
		}
	}
	if pk.FixedHeader.Qos == 2 && p.kind == kindStored {
		if orig := c.dupQoS2(p); orig != nil {
			p.dupOf = orig
			p.finish()
		}
	}
	// Decide before enqueue: a publish already settled (refused, unrouted,
	// a QoS 2 resend) may be answered and reused by the acker as soon as it
	// is queued, so p must not be read after enqueue unless it is one to
	// store, which stays unsettled until the spool's callback.
	store := p.kind == kindStored && p.dupOf == nil
	// Every publish, stored or not, is answered by the acker in the order
	// it came.
	if !b.enqueue(c, p) {
		return pk, errReject
	}
	if store {
		// p may be answered and reused as soon as AppendAsync has queued it:
		// do not touch it after.
		err := b.app.AppendAsync(b.ctx, stream, p.recs[:], p.stored)
		if err != nil { // not queued: refused now, answered in turn
			final := !errors.Is(err, spool.ErrFull) && !errors.Is(err, spool.ErrClosed)
			p.refuse(codeFor(err), final, reason(err))
		}
	}
	return pk, errReject // mochi neither acks nor delivers it
}

// errReject is packets.ErrRejectPacket as an error, converted once: a
// conversion per return allocates.
var errReject error = packets.ErrRejectPacket

// throttle holds a connection's read loop until its rate limit lets the
// next publish in. False if the broker closes meanwhile.
func (b *Broker) throttle(c *conn) bool {
	r := c.limiter.Reserve()
	d := r.Delay()
	if d == 0 {
		return true
	}
	b.m.limitedRate.Inc()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.ctx.Done():
		return false
	}
}

// codeFor maps a spool error to the MQTT 5 reason code of its refusal.
func codeFor(err error) packets.Code {
	switch {
	case errors.Is(err, spool.ErrFull):
		return packets.ErrQuotaExceeded // 0x97
	case errors.Is(err, spool.ErrInvalid), errors.Is(err, spool.ErrTooLarge):
		return packets.ErrPayloadFormatInvalid // 0x99: e.g. an event time out of range
	}
	return packets.ErrUnspecifiedError // 0x80
}

func reason(err error) string {
	switch {
	case errors.Is(err, spool.ErrFull):
		return "full"
	case errors.Is(err, spool.ErrClosed):
		return "closing"
	}
	return "error"
}

func qosLabel(q byte) string { return string('0' + q) }
