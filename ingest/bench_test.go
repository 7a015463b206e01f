package ingest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tributary-io/tributary/spool"
)

// BenchmarkPublishQoS1 sends QoS 1 PUBLISHes with JSON payloads on a routed
// topic over one raw connection, 64 in flight, and reads every PUBACK: the
// node's whole path (mochi, ingest, the spool with its fsync). allocs/op
// and B/op are the process's per message, the client's few included.
func BenchmarkPublishQoS1(b *testing.B) {
	sp := testSpool(b, spool.Options{})
	br := startBroker(b, sp, Options{AllowAnonymous: true})
	conn, err := net.Dial("tcp", br.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	connect := append(mqttString("MQTT"), 4, 0x02, 0, 60)
	if _, err := conn.Write(frame(0x10, append(connect, mqttString("bench")...))); err != nil {
		b.Fatal(err)
	}
	if ack := make([]byte, 4); func() error { _, err := io.ReadFull(r, ack); return err }() != nil || ack[0] != 0x20 {
		b.Fatal("no CONNACK")
	}
	// Topics json/m-0000 … json/m-0999, each PUBLISH's packet id at byte
	// 16: header, 2-byte length, topic length and 11-byte topic.
	msgs := make([][]byte, 1000)
	for i := range msgs {
		body := append(mqttString(fmt.Sprintf("json/m-%04d", i)), 0, 0)
		body = append(body, fmt.Sprintf(`{"device":"m-%04d","seq":%d,"ts":1764410412300,"v":239.21,"i":14.21,"p":2937.63,"q":309.21,"f":49.91,"pf":0.971,"unit":"V","st":"ok"}`, i, i)...)
		msgs[i] = frame(0x32, body)
	}
	const window = 64
	sem := make(chan struct{}, window)
	done := make(chan error, 1)
	go func() {
		ack := make([]byte, 4)
		for range b.N {
			if _, err := io.ReadFull(r, ack); err != nil {
				done <- err
				return
			}
			if ack[0] != 0x40 {
				done <- fmt.Errorf("want a PUBACK, got % x", ack)
				return
			}
			<-sem
		}
		done <- nil
	}()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		sem <- struct{}{}
		m := msgs[i%len(msgs)]
		id := uint16(i%65535 + 1)
		m[16], m[17] = byte(id>>8), byte(id)
		if _, err := conn.Write(m); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}

// frame is an MQTT packet: header byte, remaining length, body.
func frame(header byte, body []byte) []byte {
	pk := []byte{header}
	for n := len(body); ; {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		pk = append(pk, b)
		if n == 0 {
			return append(pk, body...)
		}
	}
}
