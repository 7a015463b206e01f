package ingest

import (
	"bufio"
	"flag"
	"fmt"
	"github.com/tributary-io/tributary/internal/testproc"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tributary-io/tributary/spool"
)

var ingestCrashCycles = flag.Int("ingest.crash.cycles", 12, "kill-and-restart cycles in TestCrashIngest")

const (
	crashChildEnv   = "TRIBUTARY_INGEST_CRASH_CHILD"
	crashStream     = "crash"
	crashPartitions = 4
	crashClients    = 8
	crashWindow     = 200 // QoS 1 publishes each client keeps in flight
)

// crashChild runs in a child process: a broker over the spool in dir, on a
// free port it prints, serving until it is killed.
func crashChild(dir string) {
	fail := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "crash child: %s: %v\n", what, err)
		os.Exit(3)
	}
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		fail("open spool", err)
	}
	if err := sp.EnsureStream(spool.StreamConfig{Name: crashStream, Partitions: crashPartitions, MaxBytes: 64 << 20}); err != nil {
		fail("stream", err)
	}
	b, err := New(Options{
		Listen:         "127.0.0.1:0",
		AllowAnonymous: true,
		Routes:         []Route{{Topic: crashStream + "/{client}", Stream: crashStream, Key: "{client}"}},
	}, sp)
	if err != nil {
		fail("broker", err)
	}
	if err := b.Start(); err != nil {
		fail("start", err)
	}
	fmt.Println("addr", b.Addr())
	select {} // until SIGKILL
}

// crashConn names one client's connection: one per cycle, publishing
// sequence numbers from 0.
type crashConn struct{ cycle, client int }

func (c crashConn) key() string   { return fmt.Sprint("c", c.client) }
func (c crashConn) topic() string { return crashStream + "/" + c.key() }
func (c crashConn) payload(seq int) string {
	return fmt.Sprintf("%d %d %d", c.cycle, c.client, seq)
}

// crashLedger is what the clients did: how many publishes each connection
// handed to paho (sequence numbers 0 to sent-1), and which got a PUBACK.
type crashLedger struct {
	sent  map[crashConn]int
	acked map[crashConn][]int
}

// storedRecord is a record read back from the crash stream.
type storedRecord struct {
	partition     int
	offset        uint64
	key, topic, v string
}

// TestCrashIngest publishes QoS 1 from several clients with many messages
// in flight, kills the node with SIGKILL at random moments and restarts it
// on the same spool; after each kill, every publish that got a PUBACK must
// be in the spool exactly once, and nothing else may be there but what was
// published, in publish order, with no publish stored twice.
func TestCrashIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; not in -short")
	}
	dir := t.TempDir()
	led := &crashLedger{sent: map[crashConn]int{}, acked: map[crashConn][]int{}}
	acked := 0
	check := newCrashCheck()
	for cycle := range *ingestCrashCycles {
		acked += runIngestCrashCycle(t, dir, cycle, led)
		verifyCrashSpool(t, dir, led, check) // what the cycle added
		if t.Failed() {
			t.Fatalf("cycle %d failed (see above)", cycle)
		}
	}
	check = newCrashCheck()
	stored := verifyCrashSpool(t, dir, led, check) // all of it again
	// The checks pass trivially on an empty spool. Each kill comes after a
	// first PUBACK; make sure there were many in all.
	if acked < 50**ingestCrashCycles {
		t.Fatalf("too little was acknowledged to test anything: %d PUBACKs in %d cycles", acked, *ingestCrashCycles)
	}
	sent := 0
	for _, n := range led.sent {
		sent += n
	}
	t.Logf("%d cycles: %d publishes sent, %d stored, %d acknowledged", *ingestCrashCycles, sent, stored, acked)
}

// runIngestCrashCycle starts a node on dir, publishes from crashClients
// clients until it kills the node at a random moment, and records in led
// what was sent and acknowledged. It returns the number of PUBACKs.
func runIngestCrashCycle(t *testing.T, dir string, cycle int, led *crashLedger) int {
	t.Helper()
	cmd, stdout := testproc.Start(t, crashChildEnv+"="+dir)
	var killOnce sync.Once
	killed := make(chan struct{})
	// A paho Publish racing paho's handling of the lost connection can
	// wait 30s (its write timeout) to hand its packet to a writer that is
	// gone: the kill waits for the Publish calls under way, and none starts
	// after it.
	var publishing sync.RWMutex
	kill := func() {
		killOnce.Do(func() {
			publishing.Lock()
			defer publishing.Unlock()
			close(killed) // before the kill: a connection lost after it is expected
			_ = cmd.Process.Signal(syscall.SIGKILL)
		})
	}
	defer kill() // when the test fails early
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "addr ")
	if err != nil || !ok {
		t.Fatalf("cycle %d: the node did not start: %q, %v", cycle, line, err)
	}

	clients := make([]*crashClient, crashClients)
	var wg sync.WaitGroup
	for i := range clients {
		clients[i] = &crashClient{conn: crashConn{cycle, i}, flight: make(chan inflight, crashWindow)}
		wg.Go(func() { clients[i].connect(addr, killed) })
	}
	wg.Wait()
	for _, c := range clients {
		if c.err != nil {
			t.Fatalf("cycle %d: client %d: connect: %v", cycle, c.conn.client, c.err)
		}
	}

	giveUp := make(chan struct{})
	var ackOnce sync.Once
	firstAck := make(chan struct{})
	acked := func() { ackOnce.Do(func() { close(firstAck) }) }
	for _, c := range clients {
		wg.Go(func() { c.publish(&publishing, killed) })
		wg.Go(func() { c.collect(giveUp, acked) })
	}
	// The kill comes at a random moment once acks flow, however slow the
	// machine (-race, qemu) is to get there.
	select {
	case <-firstAck:
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
	case <-time.After(30 * time.Second):
		t.Errorf("cycle %d: no PUBACK in 30s", cycle)
	}
	kill()
	// After the kill every pending token fails once paho sees the
	// connection drop; one still pending later was not acknowledged and
	// never will be: the node is gone.
	stop := time.AfterFunc(5*time.Second, func() { close(giveUp) })
	wg.Wait()
	stop.Stop()
	_ = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("cycle %d: the node ended on its own before the kill: %v", cycle, cmd.ProcessState)
	}

	n := 0
	for _, c := range clients {
		c.c.Disconnect(0)
		c.mu.Lock()
		if c.lostEarly != nil {
			t.Errorf("cycle %d: client %d lost its connection before the kill: %v", cycle, c.conn.client, c.lostEarly)
		}
		c.mu.Unlock()
		led.sent[c.conn] = c.sent
		led.acked[c.conn] = c.acked
		n += len(c.acked)
	}
	return n
}

// crashClient is one paho client of one cycle. A fresh client with a
// memory store and a clean session each cycle, never reconnecting, so paho
// never sends a publish again: on the kill, what is in flight is lost.
type crashClient struct {
	conn   crashConn
	c      paho.Client
	err    error
	flight chan inflight // publish order; its capacity bounds what is in flight

	mu        sync.Mutex
	lostEarly error // connection lost before the kill

	sent  int   // publishes handed to paho; written by publish
	acked []int // sequence numbers acknowledged; written by collect
}

type inflight struct {
	seq int
	tok paho.Token
}

func (c *crashClient) connect(addr string, killed <-chan struct{}) {
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).
		SetClientID(fmt.Sprintf("crash-%d-%d", c.conn.cycle, c.conn.client)).
		SetProtocolVersion(4).SetCleanSession(true).SetStore(paho.NewMemoryStore()).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(20 * time.Second).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case <-killed:
			default:
				c.mu.Lock()
				c.lostEarly = err
				c.mu.Unlock()
			}
		})
	c.c = paho.NewClient(opts)
	if tok := c.c.Connect(); !tok.WaitTimeout(30 * time.Second) {
		c.err = fmt.Errorf("no CONNACK")
	} else {
		c.err = tok.Error()
	}
}

// publish sends sequence numbers from 0 until the kill, keeping up to
// crashWindow unacknowledged.
func (c *crashClient) publish(publishing *sync.RWMutex, killed <-chan struct{}) {
	defer close(c.flight)
	for seq := 0; ; seq++ {
		publishing.RLock()
		select {
		case <-killed:
			publishing.RUnlock()
			return
		default:
		}
		tok := c.c.Publish(c.conn.topic(), 1, false, c.conn.payload(seq))
		publishing.RUnlock()
		c.sent = seq + 1
		c.flight <- inflight{seq, tok} // the collector always drains it
		if done(tok) && tok.Error() != nil {
			return // not connected any more
		}
	}
}

// collect records, in publish order, which publishes were acknowledged.
func (c *crashClient) collect(giveUp <-chan struct{}, acked func()) {
	for f := range c.flight {
		select {
		case <-f.tok.Done():
		case <-giveUp:
		}
		if done(f.tok) && f.tok.Error() == nil {
			c.acked = append(c.acked, f.seq)
			acked()
		}
	}
}

func done(tok paho.Token) bool {
	select {
	case <-tok.Done():
		return true
	default:
		return false
	}
}

// verifyCrashSpool checks the spool in dir with the spool's own check, and
// the records check has not seen yet against led. It returns how many
// records the stream holds.
func verifyCrashSpool(t *testing.T, dir string, led *crashLedger, check *crashCheck) int {
	t.Helper()
	r, err := spool.CheckDir(dir)
	if err != nil {
		t.Fatalf("CheckDir after kill: %v", err)
	}
	for _, p := range r.Problems {
		t.Errorf("CheckDir after kill: %s", p)
	}
	recs, next := readCrashStream(t, dir, check.from)
	check.from = next
	problems := check.check(led, recs)
	for i, p := range problems {
		if i == 20 {
			t.Errorf("… and %d more problems", len(problems)-i)
			break
		}
		t.Error(p)
	}
	stored := 0
	for _, n := range next {
		stored += int(n)
	}
	return stored
}

// readCrashStream returns the records of each partition from offset from[p]
// on, and each partition's next offset.
func readCrashStream(t *testing.T, dir string, from [crashPartitions]uint64) ([]storedRecord, [crashPartitions]uint64) {
	t.Helper()
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer sp.Close()
	var out []storedRecord
	var nexts [crashPartitions]uint64
	for p := range crashPartitions {
		_, next, err := sp.Offsets(crashStream, p)
		if err != nil {
			t.Fatal(err)
		}
		if next < from[p] {
			t.Fatalf("partition %d ends at %d, it held up to %d before the kill", p, next, from[p])
		}
		nexts[p] = next
		for from := from[p]; from < next; {
			entries, err := sp.Read(crashStream, p, from, 1<<20)
			if err != nil {
				t.Fatalf("read %d/%d: %v", p, from, err)
			}
			for _, e := range entries {
				if e.Gap != nil {
					t.Fatalf("partition %d has a gap %d-%d: nothing should have been dropped", p, e.Gap.From, e.Gap.To)
				}
				rs, err := e.Records()
				if err != nil {
					t.Fatalf("partition %d at %d: %v", p, e.Offset(), err)
				}
				for i, r := range rs {
					if off := e.Offset() + uint64(i); off >= from {
						s := storedRecord{partition: p, offset: off, key: string(r.Key), v: string(r.Value)}
						for _, h := range r.Headers {
							if h.Key == "topic" {
								s.topic = string(h.Value)
							}
						}
						out = append(out, s)
					}
				}
				from = e.NextOffset()
			}
		}
	}
	return out, nexts
}

// crashCheck follows the crash stream as it grows: the offsets up to which
// it has checked each partition, and per connection the sequence number
// expected next.
type crashCheck struct {
	from [crashPartitions]uint64
	next map[crashConn]int
}

func newCrashCheck() *crashCheck { return &crashCheck{next: map[crashConn]int{}} }

// check compares the records that follow those already checked (in
// partition and offset order) with what the clients sent, then every
// acknowledged publish with what the stream holds.
func (k *crashCheck) check(led *crashLedger, recs []storedRecord) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	next := k.next
	for _, r := range recs {
		at := fmt.Sprintf("record %d/%d %q", r.partition, r.offset, r.v)
		f := strings.Fields(r.v)
		var n [3]int
		var err error
		for i := 0; i < 3 && err == nil && len(f) == 3; i++ {
			n[i], err = strconv.Atoi(f[i])
		}
		c, seq := crashConn{n[0], n[1]}, n[2]
		if len(f) != 3 || err != nil || c.payload(seq) != r.v {
			bad("%s: not a payload the clients send", at)
			continue
		}
		switch want := next[c]; {
		case seq >= led.sent[c]:
			bad("%s: was never published (connection sent %d)", at, led.sent[c])
		case seq < want:
			bad("%s: stored twice, or out of publish order (after %d)", at, want-1)
		case seq > want:
			bad("%s: publishes %d to %d of its connection are missing before it", at, want, seq-1)
		}
		if r.key != c.key() || r.topic != c.topic() || r.partition != spool.Partition([]byte(c.key()), crashPartitions) {
			bad("%s: key %q topic %q in partition %d do not fit its publish", at, r.key, r.topic, r.partition)
		}
		next[c] = max(next[c], seq+1)
	}
	for c, seqs := range led.acked {
		for _, seq := range seqs {
			if seq >= next[c] {
				bad("%q was acknowledged but is not in the spool", c.payload(seq))
			}
		}
	}
	return problems
}

// The check must catch what it is for, or the crash test proves nothing.
func TestCrashCheckCatches(t *testing.T) {
	c0, c1 := crashConn{0, 0}, crashConn{0, 1}
	led := &crashLedger{sent: map[crashConn]int{c0: 3, c1: 2}, acked: map[crashConn][]int{c0: {0, 1}, c1: {0}}}
	rec := func(c crashConn, seq int, off uint64) storedRecord {
		return storedRecord{partition: spool.Partition([]byte(c.key()), crashPartitions), offset: off, key: c.key(), topic: c.topic(), v: c.payload(seq)}
	}
	good := []storedRecord{rec(c0, 0, 0), rec(c0, 1, 1), rec(c0, 2, 2), rec(c1, 0, 0)}
	check := newCrashCheck()
	if p := check.check(led, good); len(p) != 0 {
		t.Fatalf("sound records reported: %q", p)
	}
	// A check that follows the stream remembers what it saw.
	if p := check.check(led, []storedRecord{rec(c0, 2, 3)}); len(p) == 0 {
		t.Error("stored again in a later cycle: not caught")
	}
	wrongKey := rec(c1, 1, 1)
	wrongKey.key = "c0"
	for name, recs := range map[string][]storedRecord{
		"acked one lost":     {rec(c0, 0, 0), rec(c1, 0, 0)},
		"acked last lost":    {rec(c0, 0, 0), rec(c0, 1, 1)},
		"stored twice":       {rec(c0, 0, 0), rec(c0, 1, 1), rec(c0, 1, 2), rec(c1, 0, 0)},
		"out of order":       {rec(c0, 1, 0), rec(c0, 0, 1), rec(c1, 0, 0)},
		"hole":               {rec(c0, 0, 0), rec(c0, 2, 1), rec(c1, 0, 0)},
		"never published":    {rec(c0, 0, 0), rec(c0, 1, 1), rec(c1, 0, 0), rec(c1, 2, 1)},
		"another cycle":      {rec(c0, 0, 0), rec(c0, 1, 1), rec(c1, 0, 0), rec(crashConn{1, 0}, 0, 2)},
		"foreign payload":    {rec(c0, 0, 0), rec(c0, 1, 1), rec(c1, 0, 0), {v: "0 1 01"}},
		"key from elsewhere": {rec(c0, 0, 0), rec(c0, 1, 1), rec(c1, 0, 0), wrongKey},
	} {
		if p := newCrashCheck().check(led, recs); len(p) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}
