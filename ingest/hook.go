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
// mochi's inline client. A connection's publishes are queued in the order
// they were read and the spool completes them in queue order, so acks go out
// in the order the PUBLISHes came, as MQTT requires.
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
	qos := pk.FixedHeader.Qos
	b.m.publishes.WithLabelValues(qosLabel(qos)).Inc()
	stream, rec, ok, err := b.route(pk.TopicName, pk.Payload, time.Now())
	switch {
	case err != nil:
		b.m.refused.WithLabelValues("payload").Inc()
		return pk, refuse(cl, qos, packets.ErrPayloadFormatInvalid)
	case !ok:
		b.m.unrouted.Inc()
		return pk, nil // not stored: mochi acks it and delivers it locally
	}
	c := b.conn(cl)
	select { // a slot per publish waiting for the spool: bounds memory
	case c.slots <- struct{}{}:
	case <-b.ctx.Done():
		return pk, packets.ErrRejectPacket
	}
	queued := time.Now()
	err = b.app.AppendAsync(b.ctx, stream, []spool.Record{rec}, func(r spool.Result) {
		c.acks <- ack{pk: pk, err: r.Err, queued: queued} // never blocks: a slot is held
	})
	if err != nil {
		<-c.slots
		b.m.refused.WithLabelValues(reason(err)).Inc()
		return pk, refuse(cl, qos, codeFor(err))
	}
	return pk, packets.ErrRejectPacket
}

// refuse returns what makes mochi answer a publish that was not stored: an
// MQTT 5 client at QoS 1 gets a PUBACK with the reason code; anyone else
// gets no ack (a QoS 1 or 2 client will send it again), never a success.
func refuse(cl *mqtt.Client, qos byte, code packets.Code) error {
	if qos == 1 && cl.Properties.ProtocolVersion == 5 {
		return code
	}
	return packets.ErrRejectPacket
}

// codeFor maps a spool error to the MQTT 5 reason code of its refusal.
func codeFor(err error) packets.Code {
	if errors.Is(err, spool.ErrFull) {
		return packets.ErrQuotaExceeded // 0x97
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
