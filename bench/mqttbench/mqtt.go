package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// A lean MQTT 3.1.1 client on raw TCP: the bench's load generator. A
// general client (paho) spends more CPU per message than the brokers under
// test on two shared cores; this one encodes PUBLISHes straight into a
// reused buffer, writes many per syscall, and reads acks on one goroutine
// per connection.

// MQTT 3.1.1 packet types, as the first byte's high nibble.
const (
	typeConnack = 2
	typePuback  = 4
)

// errUnexpected is a packet the bench never asked for.
var errUnexpected = errors.New("unexpected packet from the broker")

// dialMQTT connects, sends CONNECT (clean session) and waits for a
// successful CONNACK.
func dialMQTT(addr, clientID string, keepalive uint16) (net.Conn, *bufio.Reader, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true,
			Keepalive: keepalive, ClientIdentifier: clientID},
	}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("encode CONNECT: %w", err)
	}
	r := bufio.NewReaderSize(c, 16<<10)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(buf.Bytes()); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("send CONNECT: %w", err)
	}
	typ, body, err := readPacket(r, nil)
	switch {
	case err != nil:
		err = fmt.Errorf("read CONNACK: %w", err)
	case typ != typeConnack || len(body) != 2:
		err = fmt.Errorf("CONNACK: %w (type %d)", errUnexpected, typ)
	case body[1] != 0:
		err = fmt.Errorf("CONNACK: refused with return code %d", body[1])
	}
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, r, nil
}

// readPacket reads one packet: its type and its body (after the fixed
// header), in buf when it fits.
func readPacket(r *bufio.Reader, buf []byte) (typ byte, body []byte, err error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(b&0x7f) << shift
		if b < 0x80 {
			break
		}
		if shift += 7; i == 3 {
			return 0, nil, errors.New("malformed remaining length")
		}
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	body = buf[:n]
	_, err = io.ReadFull(r, body)
	return h >> 4, body, err
}

// readPuback reads the next packet, which must be a PUBACK, and returns its
// packet id.
func readPuback(r *bufio.Reader, buf []byte) (uint16, error) {
	typ, body, err := readPacket(r, buf)
	if err != nil {
		return 0, err
	}
	if typ != typePuback || len(body) < 2 {
		return 0, fmt.Errorf("%w: type %d, %d bytes, waiting for PUBACK", errUnexpected, typ, len(body))
	}
	return uint16(body[0])<<8 | uint16(body[1]), nil
}

// appendPublish appends an MQTT 3.1.1 PUBLISH; id is ignored at QoS 0.
func appendPublish(b []byte, qos byte, id uint16, topic string, payload []byte) []byte {
	rem := 2 + len(topic) + len(payload)
	if qos > 0 {
		rem += 2
	}
	b = append(b, 0x30|qos<<1)
	for {
		d := byte(rem & 0x7f)
		if rem >>= 7; rem > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if rem == 0 {
			break
		}
	}
	b = append(b, byte(len(topic)>>8), byte(len(topic)))
	b = append(b, topic...)
	if qos > 0 {
		b = append(b, byte(id>>8), byte(id))
	}
	return append(b, payload...)
}

// nextID is the packet id after id: 1 to 65535, never 0.
func nextID(id uint16) uint16 {
	if id == 65535 {
		return 1
	}
	return id + 1
}

// closeHard closes a connection with a reset rather than a FIN, so that
// thousands of bench connections leave no TIME_WAIT sockets holding
// ephemeral ports.
func closeHard(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
