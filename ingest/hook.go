package ingest

import (
	"bytes"
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

func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnDisconnect}, []byte{b})
}

// OnConnectAuthenticate admits clients only when anonymous access is on;
// authentication is still to come.
func (h *hook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool {
	return h.b.opts.AllowAnonymous
}

// OnACLCheck allows every topic; ACLs come with authentication.
func (h *hook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

func (h *hook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.b.mu.Lock()
	c := h.b.conns[cl]
	delete(h.b.conns, cl)
	h.b.mu.Unlock()
	if c != nil {
		close(c.gone)
	}
}

func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // our own delivery after a commit
	}
	b := h.b
	b.m.publishes.WithLabelValues(qosLabel(pk.FixedHeader.Qos)).Inc()
	p := &pending{pk: pk, queued: time.Now(), done: make(chan struct{})}
	stream, rec, ok, err := b.route(pk.TopicName, pk.Payload, p.queued)
	switch {
	case err != nil:
		b.m.refused.WithLabelValues("payload").Inc()
		p.kind, p.code, p.final = kindRefused, packets.ErrPayloadFormatInvalid, true
		p.finish()
	case !ok:
		b.m.unrouted.Inc()
		p.kind = kindUnrouted
		p.finish()
	}
	// Every publish, stored or not, is answered by the acker in the order
	// it came; a full queue holds this read loop (TCP backpressure).
	c := b.conn(cl)
	select {
	case c.queue <- p:
	case <-b.ctx.Done():
		return pk, packets.ErrRejectPacket
	}
	if p.kind == kindStored {
		err := b.app.AppendAsync(b.ctx, stream, []spool.Record{rec}, func(r spool.Result) {
			p.err = r.Err
			p.finish()
		})
		if err != nil { // not queued: refused now, answered in turn
			b.m.refused.WithLabelValues(reason(err)).Inc()
			p.kind, p.code = kindRefused, codeFor(err)
			p.final = !errors.Is(err, spool.ErrFull) && !errors.Is(err, spool.ErrClosed)
			p.finish()
		}
	}
	return pk, packets.ErrRejectPacket // mochi neither acks nor delivers it
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
