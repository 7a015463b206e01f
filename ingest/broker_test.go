package ingest

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"github.com/tributary-io/tributary/spool"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir) // never returns
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/eclipse/paho.mqtt.golang.(*router).matchAndDispatch"),
	)
}

// testBroker runs a broker on a free port over a real spool with the given
// streams, and the route sensors/{site}/{device}/{metric} → telemetry.
func testBroker(t *testing.T, spoolOpts spool.Options, streams ...spool.StreamConfig) (*Broker, *spool.Spool) {
	t.Helper()
	sp := testSpool(t, spoolOpts, streams...)
	return startBroker(t, sp, Options{AllowAnonymous: true}), sp
}

// testSpool opens a spool in a temporary directory with streams (default:
// telemetry, 2 partitions), closed when the test ends.
func testSpool(t testing.TB, opts spool.Options, streams ...spool.StreamConfig) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sp.Close(); err != nil {
			t.Errorf("spool Close: %v", err)
		}
	})
	if len(streams) == 0 {
		streams = []spool.StreamConfig{{Name: "telemetry", Partitions: 2, MaxBytes: 64 << 20}}
	}
	for _, s := range streams {
		if err := sp.EnsureStream(s); err != nil {
			t.Fatal(err)
		}
	}
	return sp
}

// startBroker runs a broker over app (a spool, or one wrapped) with opts,
// filling in a plain TCP listener on a free port unless opts has
// listeners, and the routes sensors/{site}/{device}/{metric} and
// json/{device} → telemetry unless opts has routes. It is closed when the
// test ends (before the spool, which cleans up after).
func startBroker(t testing.TB, app Appender, opts Options) *Broker {
	t.Helper()
	if opts.Listen == "" && opts.TLS == nil && opts.WebSocket == nil {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.Routes == nil {
		opts.Routes = []Route{
			{Topic: "sensors/{site}/{device}/{metric}", Stream: "telemetry", Key: "{device}"},
			{Topic: "json/{device}", Stream: "telemetry", Key: "{device}", Format: FormatJSON},
		}
	}
	b, err := New(opts, app)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("broker Close: %v", err)
		}
	})
	return b
}

func pahoClient(t *testing.T, b *Broker, id string) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID(id).
		SetProtocolVersion(4).SetAutoReconnect(false).SetMaxResumePubInFlight(1000)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// storedCount is how many records the telemetry stream holds.
func storedCount(t *testing.T, sp *spool.Spool) int {
	t.Helper()
	n := 0
	for p := range 2 {
		_, next, err := sp.Offsets("telemetry", p)
		if err != nil {
			t.Fatal(err)
		}
		n += int(next)
	}
	return n
}

// A real MQTT 3.1.1 client publishes at QoS 1 with many messages in flight;
// each acknowledged message is in the spool, with key and headers from the
// route, and a local subscriber receives them.
func TestPahoPublishesAreDurableAndDelivered(t *testing.T) {
	b, sp := testBroker(t, spool.Options{})
	sub := pahoClient(t, b, "dashboard")
	var mu sync.Mutex
	got := map[string]bool{}
	if tok := sub.Subscribe("sensors/#", 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		got[string(m.Payload())] = true
		mu.Unlock()
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	pub := pahoClient(t, b, "meter-7")
	const n = 500
	toks := make([]paho.Token, n)
	for i := range n { // all sent before any is waited for
		toks[i] = pub.Publish("sensors/plant-01/meter-7/voltage", 1, false, fmt.Sprintf(`{"v":%d}`, i))
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	if c := storedCount(t, sp); c != n {
		t.Fatalf("%d records stored after %d PUBACKs", c, n)
	}
	p := spool.Partition([]byte("meter-7"), 2)
	entries, err := sp.Read("telemetry", p, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := entries[0].Records()
	r := recs[0]
	if string(r.Key) != "meter-7" || string(r.Value) != `{"v":0}` || len(r.Headers) != 4 || string(r.Headers[3].Value) != "sensors/plant-01/meter-7/voltage" {
		t.Fatalf("first record = key %q value %q headers %+v", r.Key, r.Value, r.Headers)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		k := len(got)
		mu.Unlock()
		if k == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the local subscriber got %d of %d messages", k, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawClient speaks MQTT over a plain socket, to see exactly which packets
// the broker sends and in what order.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, b *Broker, version byte, id string) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	body := append(mqttString("MQTT"), version, 0x02, 0, 60) // clean session, keepalive 60
	if version == 5 {
		body = append(body, 0) // no properties
	}
	body = append(body, mqttString(id)...)
	c.send(0x10, body)
	if typ, _ := c.read(); typ != 0x20 {
		t.Fatalf("want CONNACK, got packet type %#x", typ)
	}
	return c
}

func mqttString(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

func (c *rawClient) send(header byte, body []byte) {
	c.t.Helper()
	pk := []byte{header}
	for n := len(body); ; {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		pk = append(pk, b)
		if n == 0 {
			break
		}
	}
	if _, err := c.conn.Write(append(pk, body...)); err != nil {
		c.t.Fatal(err)
	}
}

// publish sends a QoS 1 PUBLISH with packet id id.
func (c *rawClient) publish(version byte, topic string, id uint16, payload string) {
	body := append(mqttString(topic), byte(id>>8), byte(id))
	if version == 5 {
		body = append(body, 0)
	}
	c.send(0x32, append(body, payload...))
}

// read returns the next packet's type (high nibble) and body.
func (c *rawClient) read() (byte, []byte) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := c.r.ReadByte()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	n, mul := 0, 1
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			c.t.Fatal(err)
		}
		n += int(b&0x7f) * mul
		mul *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		c.t.Fatal(err)
	}
	return h & 0xf0, body
}

// Many QoS 1 messages in flight on one connection: every PUBACK comes, in
// the order the PUBLISHes were sent.
func TestPubacksKeepPublishOrder(t *testing.T) {
	b, _ := testBroker(t, spool.Options{Linger: 5 * time.Millisecond})
	for _, version := range []byte{4, 5} {
		c := dialRaw(t, b, version, fmt.Sprint("raw-", version))
		const n = 300
		for i := 1; i <= n; i++ {
			c.publish(version, "sensors/s/d/m", uint16(i), "x")
		}
		for i := 1; i <= n; i++ {
			typ, body := c.read()
			if typ != 0x40 || binary.BigEndian.Uint16(body) != uint16(i) {
				t.Fatalf("v%d: ack %d is type %#x for id %d; want PUBACK for %d", version, i, typ, binary.BigEndian.Uint16(body), i)
			}
			if version == 5 && len(body) > 2 && body[2] != 0 {
				t.Fatalf("v5 PUBACK %d has reason %#x", i, body[2])
			}
		}
	}
}

// A full stream (block policy) refuses: MQTT 5 gets reason 0x97, MQTT 3.1.1
// gets no ack at all; never a success ack for what was not stored.
func TestFullStreamRefusesWithoutSuccessAck(t *testing.T) {
	b, sp := testBroker(t, spool.Options{}, spool.StreamConfig{Name: "telemetry", Partitions: 2, MaxBytes: 4 << 10, Uncompressed: true})
	for p := range 2 { // a forwarder that has read nothing protects everything
		if _, err := sp.Commit(context.Background(), new(spool.Txn).SetCursor("fwd", "telemetry", p, 0, true)); err != nil {
			t.Fatal(err)
		}
	}
	big := string(make([]byte, 3000))
	v5 := dialRaw(t, b, 5, "v5")
	v5.publish(5, "sensors/s/d/m", 1, big) // fits
	v5.publish(5, "sensors/s/d/m", 2, big) // does not
	if typ, body := v5.read(); typ != 0x40 || binary.BigEndian.Uint16(body) != 1 || (len(body) > 2 && body[2] != 0) {
		t.Fatalf("first PUBACK = %#x % x", typ, body)
	}
	if typ, body := v5.read(); typ != 0x40 || binary.BigEndian.Uint16(body) != 2 || len(body) < 3 || body[2] != 0x97 {
		t.Fatalf("PUBACK for the refused publish = %#x % x; want reason 0x97", typ, body)
	}

	v3 := dialRaw(t, b, 4, "v3")
	v3.publish(4, "sensors/s/d/m", 7, big)
	_ = v3.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := v3.r.ReadByte(); err == nil {
		t.Fatal("an MQTT 3.1.1 client got an ack for a publish the full stream refused")
	}
	if c := storedCount(t, sp); c != 1 {
		t.Fatalf("%d records stored, want only the first", c)
	}
}

// Invalid JSON on a JSON route: MQTT 5 gets reason 0x99, nothing is stored,
// and the connection goes on.
func TestInvalidJSONIsRefused(t *testing.T) {
	b, sp := testBroker(t, spool.Options{})
	c := dialRaw(t, b, 5, "j")
	c.publish(5, "json/d1", 1, `{"v":`)
	c.publish(5, "json/d1", 2, `{"v":1}`)
	if typ, body := c.read(); typ != 0x40 || binary.BigEndian.Uint16(body) != 1 || len(body) < 3 || body[2] != 0x99 {
		t.Fatalf("PUBACK for invalid JSON = %#x % x; want reason 0x99", typ, body)
	}
	if typ, body := c.read(); typ != 0x40 || binary.BigEndian.Uint16(body) != 2 || (len(body) > 2 && body[2] != 0) {
		t.Fatalf("PUBACK for valid JSON = %#x % x", typ, body)
	}
	if n := storedCount(t, sp); n != 1 {
		t.Fatalf("%d records stored, want 1", n)
	}
}

// QoS 0 is spooled the same way, without an ack.
func TestQoS0IsSpooled(t *testing.T) {
	b, sp := testBroker(t, spool.Options{})
	pub := pahoClient(t, b, "q0")
	for i := range 50 {
		pub.Publish("sensors/s/d/m", 0, false, fmt.Sprint(i)).Wait()
	}
	deadline := time.Now().Add(10 * time.Second)
	for storedCount(t, sp) < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 50 QoS 0 messages stored", storedCount(t, sp))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAnonymousRefusedUnlessAllowed(t *testing.T) {
	sp, err := spool.Open(t.TempDir(), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	b, err := New(Options{Listen: "127.0.0.1:0"}, sp)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("x").SetAutoReconnect(false))
	tok := c.Connect()
	if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		c.Disconnect(0)
		t.Fatal("an anonymous client connected though anonymous access is off")
	}
}

// A truncated MQTT 5 SUBSCRIBE (the options byte of its last filter
// missing) panicked mochi's decoder and killed the process (upstream #501);
// the carried mochi refuses it, and the broker serves on.
func TestTruncatedSubscribeIsRefused(t *testing.T) {
	b, sp := testBroker(t, spool.Options{})
	c := dialRaw(t, b, 5, "bad")
	c.send(0x82, append([]byte{0, 1, 0}, mqttString("a/b")...)) // packet id 1, no properties, filter, no options
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for { // the broker ends the session: a DISCONNECT, then EOF
		if _, err := c.r.ReadByte(); err != nil {
			break
		}
	}
	good := dialRaw(t, b, 5, "good")
	good.publish(5, "sensors/s/d/m", 1, "after")
	if typ, body := good.read(); typ != 0x40 || binary.BigEndian.Uint16(body) != 1 {
		t.Fatalf("after the bad SUBSCRIBE: %#x % x, want a PUBACK", typ, body)
	}
	if n := storedCount(t, sp); n != 1 {
		t.Fatalf("%d records stored", n)
	}
}

// Acks keep publish order whatever becomes of each publish: stored,
// refused for its payload, or on a topic no route matches.
func TestAcksKeepOrderAcrossOutcomes(t *testing.T) {
	b, _ := testBroker(t, spool.Options{Linger: 100 * time.Millisecond})
	c := dialRaw(t, b, 5, "mixed")
	c.publish(5, "sensors/s/d/m", 1, "stored")
	c.publish(5, "sensors/s/d/m", 2, "stored")
	c.publish(5, "nowhere/at/all", 3, "unrouted")
	c.publish(5, "json/d", 4, "not json")
	c.publish(5, "sensors/s/d/m", 5, "stored")
	want := map[uint16]byte{1: 0, 2: 0, 3: 0, 4: 0x99, 5: 0}
	for id := uint16(1); id <= 5; id++ {
		typ, body := c.read()
		code := byte(0)
		if len(body) > 2 {
			code = body[2]
		}
		if typ != 0x40 || binary.BigEndian.Uint16(body) != id || code != want[id] {
			t.Fatalf("ack %d: type %#x id %d code %#x; want PUBACK %d code %#x", id, typ, binary.BigEndian.Uint16(body), code, id, want[id])
		}
	}
}

// A refused QoS 2 publish gets a PUBREC with the reason, not a PUBACK.
func TestQoS2RefusalIsAPubrec(t *testing.T) {
	b, _ := testBroker(t, spool.Options{})
	c := dialRaw(t, b, 5, "q2")
	body := append(mqttString("json/d"), 0, 9, 0)
	c.send(0x34, append(body, "not json"...)) // PUBLISH QoS 2, id 9
	if typ, body := c.read(); typ != 0x50 || binary.BigEndian.Uint16(body) != 9 || len(body) < 3 || body[2] != 0x99 {
		t.Fatalf("answer to a refused QoS 2 publish = %#x % x; want PUBREC 9 with 0x99", typ, body)
	}
}

// MQTT 3.1.1 has no refusal code: a publish that can never be stored ends
// the connection rather than being resent forever.
func TestMQTT3PayloadRefusalClosesTheConnection(t *testing.T) {
	b, _ := testBroker(t, spool.Options{})
	c := dialRaw(t, b, 4, "v3json")
	c.publish(4, "json/d", 1, "not json")
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c.r); err != nil {
		t.Fatalf("want the broker to close the connection, got %v", err)
	}
}

// heldAppender passes appends on to the spool but holds back its answers
// until release is called: a test decides when a publish is settled.
type heldAppender struct {
	Appender
	held    chan struct{}
	release func()
}

func holdAppends(t *testing.T, app Appender) *heldAppender {
	h := &heldAppender{Appender: app, held: make(chan struct{})}
	h.release = sync.OnceFunc(func() { close(h.held) })
	t.Cleanup(h.release) // before the broker's Close, which waits for the answers
	return h
}

func (h *heldAppender) AppendAsync(ctx context.Context, stream string, recs []spool.Record, done func(spool.Result)) error {
	return h.Appender.AppendAsync(ctx, stream, recs, func(r spool.Result) {
		go func() { <-h.held; done(r) }() // done must not block the committer
	})
}

// waitQueued waits until the broker has taken in n publishes not answered
// yet.
func waitQueued(t *testing.T, b *Broker, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); b.queued.Load() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d publishes queued, want %d", b.queued.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// qos2Publish is the body of an MQTT 5 QoS 2 PUBLISH with packet id 7.
func qos2Publish() []byte {
	body := append(mqttString("sensors/s/d/v"), 0, 7, 0)
	return append(body, "once"...)
}

// readPubrec reads a PUBREC for packet id 7, which must be a success.
func (c *rawClient) readPubrec(what string) {
	c.t.Helper()
	typ, ack := c.read()
	if typ != 0x50 || binary.BigEndian.Uint16(ack) != 7 || (len(ack) > 2 && ack[2] != 0) {
		c.t.Fatalf("%s: %#x % x, want a successful PUBREC for 7", what, typ, ack)
	}
}

// pubrel completes packet id 7.
func (c *rawClient) pubrel() {
	c.t.Helper()
	c.send(0x62, []byte{0, 7})
	if typ, _ := c.read(); typ != 0x70 {
		c.t.Fatalf("got %#x, want PUBCOMP", typ)
	}
}

// A QoS 2 PUBLISH sent again (DUP) before its PUBREC is stored once, and
// both copies get a PUBREC. The first one's commit is held until the
// broker has read the resend: the spool commits a lone record at once, so
// otherwise the resend often comes after the PUBREC.
func TestQoS2ResendBeforePubrecIsStoredOnce(t *testing.T) {
	sp := testSpool(t, spool.Options{})
	app := holdAppends(t, sp)
	b := startBroker(t, app, Options{AllowAnonymous: true})
	c := dialRaw(t, b, 5, "qos2-dup")
	c.send(0x34, qos2Publish()) // QoS 2
	c.send(0x3c, qos2Publish()) // DUP, QoS 2, same packet id
	waitQueued(t, b, 2)
	app.release()
	c.readPubrec("answer to the publish")
	c.readPubrec("answer to the resend")
	c.pubrel()
	if n := storedCount(t, sp); n != 1 {
		t.Fatalf("%d records stored, want 1", n)
	}
}

// A QoS 2 PUBLISH sent again after its PUBREC (the client did not get it)
// but before PUBREL is answered with a successful PUBREC again, and not
// stored again. mochi answered it "Packet Identifier in use" (0x91), an
// error: an MQTT 5 client then takes the message as refused, though it is
// stored, and may publish it again under a new packet id.
func TestQoS2ResendAfterPubrecIsAnsweredAndStoredOnce(t *testing.T) {
	b, sp := testBroker(t, spool.Options{})
	c := dialRaw(t, b, 5, "qos2-dup")
	c.send(0x34, qos2Publish())
	c.readPubrec("answer to the publish")
	c.send(0x3c, qos2Publish()) // DUP, before PUBREL
	c.readPubrec("answer to the resend")
	c.send(0x3c, qos2Publish()) // and once more
	c.readPubrec("answer to the second resend")
	c.pubrel()
	if n := storedCount(t, sp); n != 1 {
		t.Fatalf("%d records stored, want 1", n)
	}
}

// Publishes answered before they reach the spool (unrouted, refused) may be
// answered and their pending reused as soon as they are queued; the hook
// must not read them after that. Many of them, mixed with stored ones, on
// one connection with several in flight: the race detector (and a reused
// pending sent to the spool) caught the hook doing so.
func TestSettledPublishesAreNotTouchedAfterQueueing(t *testing.T) {
	b, sp := testBroker(t, spool.Options{})
	stored := 0
	var wg sync.WaitGroup
	for k := range 4 {
		c := pahoClient(t, b, fmt.Sprintf("settled-%d", k))
		wg.Go(func() {
			toks := make([]paho.Token, 0, 5000)
			for i := range 5000 {
				topic := "nowhere/at/all" // unrouted: dropped, answered at once
				if i%50 == 0 {
					topic = "sensors/s/d/m"
				}
				toks = append(toks, c.Publish(topic, 1, false, "x"))
			}
			for _, tok := range toks {
				if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					t.Errorf("publish: %v", tok.Error())
					return
				}
			}
		})
		stored += 100
	}
	wg.Wait()
	if got := storedCount(t, sp); got != stored {
		t.Fatalf("spool holds %d records, want %d", got, stored)
	}
}

// A graceful Close answers every publish it took in before the connections
// end: each record stored got its PUBACK. Otherwise the client sends it
// again after reconnecting, and it is stored twice.
func TestCloseAcksWhatItStored(t *testing.T) {
	sp := testSpool(t, spool.Options{Linger: 5 * time.Millisecond})
	b, err := New(Options{Listen: "127.0.0.1:0", AllowAnonymous: true,
		Routes: []Route{{Topic: "sensors/{site}/{device}/{metric}", Stream: "telemetry", Key: "{device}"}}}, sp)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	var acked atomic.Int64
	var wg sync.WaitGroup
	closed := make(chan struct{})
	for k := range 4 {
		opts := paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID(fmt.Sprintf("closer-%d", k)).
			SetAutoReconnect(false).SetMaxResumePubInFlight(1000).
			SetWriteTimeout(time.Second) // a Publish on a closed connection waits this long (paho's default: 30 s)
		c := paho.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("connect: %v", tok.Error())
		}
		wg.Go(func() {
			defer c.Disconnect(0)
			var toks []paho.Token
			for i := 0; i < 2000 && c.IsConnectionOpen(); i++ {
				toks = append(toks, c.Publish(fmt.Sprintf("sensors/s/d%d/m", k), 1, false, "x"))
			}
			// Tokens of publishes never answered never complete: wait
			// for all at once, until the broker has closed.
			<-closed
			for _, tok := range toks {
				select {
				case <-tok.Done():
					if tok.Error() == nil {
						acked.Add(1)
					}
				default:
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // mid-stream
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = b.Close(ctx)
	time.Sleep(200 * time.Millisecond) // paho hands acks to tokens from its own goroutine
	close(closed)
	wg.Wait()
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	stored := storedCount(t, sp)
	if written := int64(testutil.ToFloat64(b.m.acks)); written != int64(stored) {
		t.Errorf("the broker wrote %d acks for %d records stored", written, stored)
	}
	if stored == 0 || int64(stored) != acked.Load() {
		t.Fatalf("%d records stored, %d publishes acknowledged: want the same, and some", stored, acked.Load())
	}
}
