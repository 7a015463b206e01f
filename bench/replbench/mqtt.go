package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// A minimal MQTT 3.1.1 client: enough to publish at QoS 1 with a window
// and to subscribe at QoS 1, with packets encoded by hand into buffered
// writers (many per write).

func appendRemLen(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// mqttDial connects with a clean session and waits for CONNACK.
func mqttDial(addr, clientID string) (net.Conn, *bufio.Reader, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	vh := appendStr(nil, "MQTT")
	vh = append(vh, 4, 0x02, 0, 60) // level 4, clean session, keepalive 60 s
	vh = appendStr(vh, clientID)
	pkt := appendRemLen([]byte{0x10}, len(vh))
	if _, err := c.Write(append(pkt, vh...)); err != nil {
		c.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(c, 256<<10)
	typ, body, err := readPacket(br)
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("mqtt connect to %s: %w", addr, err)
	}
	if typ != 0x20 || len(body) < 2 || body[1] != 0 {
		c.Close()
		return nil, nil, fmt.Errorf("mqtt connect to %s refused: packet %#x %x", addr, typ, body)
	}
	return c, br, nil
}

// readPacket reads one packet: its first byte and its body.
func readPacket(br *bufio.Reader) (byte, []byte, error) {
	h, err := br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for {
		d, err := br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(d&0x7f) * mul
		if d&0x80 == 0 {
			break
		}
		mul *= 128
	}
	body := make([]byte, n)
	_, err = io.ReadFull(br, body)
	return h, body, err
}

// publishAll publishes recs at QoS 1 with up to window unacknowledged, and
// returns when every PUBACK has come.
func publishAll(addr string, recs []record, window int) error {
	c, br, err := mqttDial(addr, "replbench-pub")
	if err != nil {
		return err
	}
	defer c.Close()
	sem := make(chan struct{}, window)
	readErr := make(chan error, 1)
	go func() {
		for acked := 0; acked < len(recs); {
			typ, _, err := readPacket(br)
			if err != nil {
				readErr <- err
				return
			}
			if typ>>4 == 4 { // PUBACK
				acked++
				<-sem
			}
		}
		readErr <- nil
	}()
	bw := bufio.NewWriterSize(c, 256<<10)
	var id uint16
	for i, r := range recs {
		select {
		case sem <- struct{}{}:
		default:
			if err := bw.Flush(); err != nil {
				return err
			}
			sem <- struct{}{}
		}
		id++
		if id == 0 {
			id = 1
		}
		n := 2 + len(r.topic) + 2 + len(r.value)
		hdr := appendRemLen([]byte{0x32}, n)
		hdr = appendStr(hdr, r.topic)
		hdr = binary.BigEndian.AppendUint16(hdr, id)
		_, _ = bw.Write(hdr) // a write error shows at the next Flush
		_, _ = bw.Write(r.value)
		if i%64 == 63 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	select {
	case err := <-readErr:
		return err
	case <-time.After(10 * time.Minute):
		return errors.New("publisher: PUBACKs missing after 10 minutes")
	}
}

// subscriber counts the PUBLISHes a broker delivers on a filter at QoS 1,
// and acks each.
type subscriber struct {
	c     net.Conn
	count atomic.Int64
	bytes atomic.Int64 // payload bytes
	last  atomic.Int64 // Unix ns of the last arrival
	done  chan error
	once  sync.Once
	// readErr is what ended the reader, after close.
	readErr error
}

func subscribe(addr, filter string) (*subscriber, error) {
	c, br, err := mqttDial(addr, "replbench-sub")
	if err != nil {
		return nil, err
	}
	body := binary.BigEndian.AppendUint16(nil, 1)
	body = appendStr(body, filter)
	body = append(body, 1)
	if _, err := c.Write(append(appendRemLen([]byte{0x82}, len(body)), body...)); err != nil {
		c.Close()
		return nil, err
	}
	if typ, _, err := readPacket(br); err != nil || typ != 0x90 {
		c.Close()
		return nil, fmt.Errorf("mqtt subscribe: no SUBACK (packet %#x): %w", typ, err)
	}
	s := &subscriber{c: c, done: make(chan error, 1)}
	go s.loop(br)
	return s, nil
}

func (s *subscriber) loop(br *bufio.Reader) {
	bw := bufio.NewWriterSize(s.c, 64<<10)
	for {
		typ, body, err := readPacket(br)
		if err != nil {
			s.done <- err
			return
		}
		if typ>>4 == 3 && len(body) >= 2 {
			tl := int(binary.BigEndian.Uint16(body))
			payload := body[2+tl:]
			if (typ>>1)&3 > 0 {
				id := body[2+tl : 4+tl]
				payload = body[4+tl:]
				_, _ = bw.Write([]byte{0x40, 2, id[0], id[1]}) // errors show at Flush
			}
			s.bytes.Add(int64(len(payload)))
			s.count.Add(1)
			s.last.Store(time.Now().UnixNano())
		}
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				s.done <- err
				return
			}
		}
	}
}

// close ends the connection and waits for the reader; its error (of the
// closed connection, mostly) is kept in readErr.
func (s *subscriber) close() {
	s.once.Do(func() { _ = s.c.Close(); s.readErr = <-s.done })
}
