package ingest

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tributary-io/tributary/spool"
)

// mochi patch 13: WritePackets encodes packets in order into one write, as
// WritePacket would each, with the connection's protocol version.
func TestWritePacketsIsOneWrite(t *testing.T) {
	s := mqtt.New(nil)
	defer s.Close()
	server, client := net.Pipe()
	defer client.Close()
	cl := s.NewClient(server, "t", "c", false)
	cl.Properties.ProtocolVersion = 5
	pks := []packets.Packet{
		{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 1},
		{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: 2},
		{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 3, ReasonCode: packets.ErrQuotaExceeded.Code},
	}
	var want bytes.Buffer
	for _, pk := range pks {
		pk.ProtocolVersion = 5
		if err := pk.PubackEncode(&want); err != nil { // PUBREC's encoder is the same
			t.Fatal(err)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- cl.WritePackets(pks) }()
	got := make([]byte, 64)
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := client.Read(got) // net.Pipe: one Read returns one Write, whole if it fits
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:n], want.Bytes()) {
		t.Fatalf("one read got % x, want all three packets % x", got[:n], want.Bytes())
	}
	if pks[2].ProtocolVersion != 5 {
		t.Fatal("WritePackets did not leave the packets as encoded")
	}
}

// A commit that completes several publishes of an MQTT 3.1.1 connection,
// one of them refused for good in the middle: the publishes before it are
// acknowledged, in order, then the connection closes; nothing after the
// refusal is acknowledged.
func TestMQTT3RefusalInABatchAcksWhatCameBefore(t *testing.T) {
	b, _ := testBroker(t, spool.Options{Linger: 100 * time.Millisecond})
	c := dialRaw(t, b, 4, "v3batch")
	c.publish(4, "sensors/s/d/m", 1, "stored")
	c.publish(4, "sensors/s/d/m", 2, "stored")
	c.publish(4, "json/d", 3, "not json")
	c.publish(4, "sensors/s/d/m", 4, "stored, not acknowledged")
	for id := uint16(1); id <= 2; id++ {
		if typ, body := c.read(); typ != 0x40 || binary.BigEndian.Uint16(body) != id {
			t.Fatalf("got %#x % x, want PUBACK %d", typ, body, id)
		}
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := io.ReadAll(c.r); err != nil || len(rest) > 0 {
		t.Fatalf("after the acks: % x, %v; want the connection closed with nothing more", rest, err)
	}
}

// mochi patch 14: the topic index counts the subscriptions it holds, of
// every kind, so that delivery can be skipped when there are none.
func TestTopicsIndexCountsSubscriptions(t *testing.T) {
	x := mqtt.NewTopicsIndex()
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"empty", func() {}, false},
		{"subscribe", func() { x.Subscribe("a", packets.Subscription{Filter: "s/#"}) }, true},
		{"same again", func() { x.Subscribe("a", packets.Subscription{Filter: "s/#", Qos: 1}) }, true},
		{"unsubscribe another client", func() { x.Unsubscribe("s/#", "b") }, true},
		{"unsubscribe", func() { x.Unsubscribe("s/#", "a") }, false},
		{"unsubscribe twice", func() { x.Unsubscribe("s/#", "a") }, false},
		{"shared", func() { x.Subscribe("a", packets.Subscription{Filter: "$share/g/s/+"}) }, true},
		{"unshare", func() { x.Unsubscribe("$share/g/s/+", "a") }, false},
		{"inline", func() {
			x.InlineSubscribe(mqtt.InlineSubscription{Subscription: packets.Subscription{Filter: "s/x", Identifier: 1}})
		}, true},
		{"inline other id out", func() { x.InlineUnsubscribe(2, "s/x") }, true},
		{"inline out", func() { x.InlineUnsubscribe(1, "s/x") }, false},
	}
	for _, s := range steps {
		s.do()
		if got := x.HasSubscriptions(); got != s.want {
			t.Fatalf("after %s: HasSubscriptions = %v, want %v", s.name, got, s.want)
		}
	}
}
