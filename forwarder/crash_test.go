package forwarder_test

// The crash tests kill an edge node, and separately a hub, with SIGKILL at
// random moments during continuous ingest, restart it on the same spool
// file, and at the end check the promise: every record the edge
// acknowledged to its producer is at the hub exactly once, in order per key.
//
// The process that is killed is this test binary, started again as a child
// (crashModeEnv says which part it plays); the other side runs in the test
// process. Plaintext gRPC and an anonymous site: TLS is tested elsewhere.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"github.com/tributary-io/tributary/internal/testproc"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/forwarder"
	"github.com/tributary-io/tributary/spool"
)

var crashCycles = flag.Int("forwarder.crash.cycles", 10, "kill-and-restart cycles in TestCrashEdge and TestCrashHub")

const (
	crashModeEnv = "TRIBUTARY_FORWARDER_CRASH_CHILD" // "edge", "hub" or "kafka-hub"
	crashDirEnv  = "TRIBUTARY_FORWARDER_CRASH_DIR"
	crashAddrEnv = "TRIBUTARY_FORWARDER_CRASH_ADDR"

	crashSite      = "crash-site"
	crashStream    = "crash"
	crashEdgeParts = 2
	crashHubParts  = 4
)

// crashKeys are the producer's devices; each has its own sequence from 0.
var crashKeys = []string{"dev-a", "dev-b", "dev-c", "dev-d", "dev-e"}

// crashChild plays mode in a child process until it is killed.
func crashChild(mode string) {
	fail := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "forwarder crash child (%s): %s: %v\n", mode, what, err)
		os.Exit(3)
	}
	dir, addr := os.Getenv(crashDirEnv), os.Getenv(crashAddrEnv)
	switch mode {
	case "hub":
		h, err := startCrashHub(dir, addr)
		if err != nil {
			fail("start hub", err)
		}
		fmt.Println("addr", h.addr)
	case "edge":
		sp, err := openCrashSpool(dir, crashEdgeParts)
		if err != nil {
			fail("open spool", err)
		}
		f, err := newCrashForwarder(sp, addr)
		if err != nil {
			fail("forwarder", err)
		}
		go func() { _ = f.Run(context.Background()) }()
		var out sync.Mutex
		err = startProducers(context.Background(), sp, nil, func(key string, first, last uint64) {
			out.Lock() // one write per line: a line is whole or absent
			fmt.Fprintf(os.Stdout, "ack %s %d %d\n", key, first, last)
			out.Unlock()
		}, func(err error) { fail("append", err) })
		if err != nil {
			fail("producer", err)
		}
		fmt.Println("ready")
	case "kafka-hub": // dir holds the brokers' addresses
		addr, err := startCrashKafkaHub(strings.Split(dir, ","), addr)
		if err != nil {
			fail("start kafka hub", err)
		}
		fmt.Println("addr", addr)
	default:
		fail("mode", fmt.Errorf("unknown mode %q", mode))
	}
	select {} // until SIGKILL
}

// openCrashSpool opens the spool in dir with the crash stream.
func openCrashSpool(dir string, parts int) (*spool.Spool, error) {
	sp, err := spool.Open(dir, spool.Options{Linger: time.Millisecond, OpenTimeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	if err := sp.EnsureStream(spool.StreamConfig{Name: crashStream, Partitions: parts, MaxBytes: 256 << 20}); err != nil {
		sp.Close()
		return nil, err
	}
	return sp, nil
}

func newCrashForwarder(sp *spool.Spool, addr string) (*forwarder.Forwarder, error) {
	return forwarder.New(forwarder.Options{
		Spool: sp, Site: crashSite, Addr: addr,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Heartbeat: 100 * time.Millisecond,
	})
}

// crashHub is a hub over the spool in a directory, on plaintext gRPC.
type crashHub struct {
	sp   *spool.Spool
	srv  *cluster.Server
	gs   *grpc.Server
	addr string
	done chan struct{}
}

// startCrashHub serves a hub over the spool in dir on addr (a restart
// reuses the address of the hub it replaces).
func startCrashHub(dir, addr string) (*crashHub, error) {
	sp, err := openCrashSpool(dir, crashHubParts)
	if err != nil {
		return nil, err
	}
	srv, err := cluster.New(cluster.Options{Spool: sp, AllowAnonymous: true})
	if err != nil {
		sp.Close()
		return nil, err
	}
	var ln net.Listener
	for i := 0; ; i++ { // the killed hub's port may take a moment to free
		ln, err = net.Listen("tcp", addr)
		if err == nil || i == 100 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		srv.Close()
		sp.Close()
		return nil, err
	}
	h := &crashHub{sp: sp, srv: srv, gs: grpc.NewServer(), addr: ln.Addr().String(), done: make(chan struct{})}
	tributaryv1.RegisterReplicationServiceServer(h.gs, srv)
	go func() {
		defer close(h.done)
		_ = h.gs.Serve(ln)
	}()
	return h, nil
}

func (h *crashHub) close() error {
	h.gs.Stop()
	<-h.done
	h.srv.Close()
	return h.sp.Close()
}

// startProducers resumes every key's sequence after the last one in sp and
// appends to it until ctx ends: a few records at a time, calling ack once
// Append has returned (the records are durable: acknowledged to the
// producer). A failed Append other than at the end calls fail. wg, if not
// nil, tracks the producer goroutines.
func startProducers(ctx context.Context, sp *spool.Spool, wg *sync.WaitGroup, ack func(key string, first, last uint64), fail func(error)) error {
	next, err := nextSeqs(sp)
	if err != nil {
		return err
	}
	if wg == nil {
		wg = new(sync.WaitGroup)
	}
	for _, k := range crashKeys {
		wg.Go(func() {
			seq := next[k]
			for ctx.Err() == nil {
				n := 1 + rand.N(8)
				recs := make([]spool.Record, n)
				for i := range recs {
					recs[i] = crashRecord(k, seq+uint64(i))
				}
				if _, err := sp.Append(ctx, crashStream, recs...); err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					return
				}
				ack(k, seq, seq+uint64(n)-1)
				seq += uint64(n)
				time.Sleep(time.Duration(rand.N(2000)) * time.Microsecond)
			}
		})
	}
	return nil
}

func crashRecord(key string, seq uint64) spool.Record {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 72), seq)
	v = append(v, strings.Repeat("x", 64)...)
	return spool.Record{Key: []byte(key), Value: v, Time: time.Now()}
}

// crashRec is a record as the checks see it.
type crashRec struct {
	key  string
	seq  uint64
	site string // the hub's site header
}

// readCrashRecs reads every record of the crash stream, by partition.
func readCrashRecs(t testing.TB, sp *spool.Spool, parts int) [][]crashRec {
	t.Helper()
	out := make([][]crashRec, parts)
	for p := range parts {
		for _, r := range readPartition(t, sp, crashStream, p) {
			if len(r.Value) < 8 {
				t.Fatalf("partition %d: record %q has no sequence number", p, r.Value)
			}
			out[p] = append(out[p], crashRec{key: string(r.Key), seq: seqOf8(r.Value), site: header(r, cluster.HeaderSite)})
		}
	}
	return out
}

func seqOf8(v []byte) uint64 { return binary.BigEndian.Uint64(v[:8]) }

// nextSeqs returns each key's next sequence number: one past the last the
// spool holds. The edge's spool holds each key's sequence in order.
func nextSeqs(sp *spool.Spool) (map[string]uint64, error) {
	next := map[string]uint64{}
	for p := range crashEdgeParts {
		start, head, err := sp.Offsets(crashStream, p)
		if err != nil {
			return nil, err
		}
		for off := start; off < head; {
			es, err := sp.Read(crashStream, p, off, 1<<20)
			if err != nil {
				return nil, err
			}
			for _, e := range es {
				recs, err := e.Records()
				if err != nil {
					return nil, err
				}
				for _, r := range recs {
					k, s := string(r.Key), seqOf8(r.Value)
					if s != next[k] {
						return nil, fmt.Errorf("edge spool: key %s holds %d where %d was due", k, s, next[k])
					}
					next[k]++
				}
				off = e.NextOffset()
			}
		}
	}
	return next, nil
}

// crashLedger is what the producers were told: per key, the acknowledged
// ranges of sequence numbers, as [first, last].
type crashLedger struct {
	mu     sync.Mutex
	ranges map[string][][2]uint64
	n      int
}

func newCrashLedger() *crashLedger { return &crashLedger{ranges: map[string][][2]uint64{}} }

func (l *crashLedger) ack(key string, first, last uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ranges[key] = append(l.ranges[key], [2]uint64{first, last})
	l.n += int(last - first + 1)
}

func (l *crashLedger) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// checkCrash checks the hub's records against the edge's and the ledger:
// per key the hub holds the edge's records 0..n-1 once each, in order, in
// one hub partition, with the site's header; and every acknowledged
// sequence number was acknowledged once and is among them.
func checkCrash(edge, hub [][]crashRec, led *crashLedger) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	stored := map[string]uint64{}
	for p, recs := range edge {
		for _, r := range recs {
			if r.seq != stored[r.key] {
				bad("edge partition %d: key %s: record %d where %d was due", p, r.key, r.seq, stored[r.key])
			}
			stored[r.key] = max(stored[r.key], r.seq+1)
		}
	}
	at := map[string]uint64{}
	part := map[string]int{}
	for p, recs := range hub {
		for _, r := range recs {
			switch want := at[r.key]; {
			case r.seq < want:
				bad("hub partition %d: key %s: record %d again after %d (a duplicate or out of order)", p, r.key, r.seq, want-1)
			case r.seq > want:
				bad("hub partition %d: key %s: records %d to %d are missing before %d", p, r.key, want, r.seq-1, r.seq)
			}
			at[r.key] = max(at[r.key], r.seq+1)
			if q, ok := part[r.key]; ok && q != p {
				bad("key %s is in hub partitions %d and %d", r.key, q, p)
			}
			part[r.key] = p
			if r.site != crashSite {
				bad("hub partition %d: key %s record %d has site header %q", p, r.key, r.seq, r.site)
			}
		}
	}
	for _, m := range []map[string]uint64{stored, at} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if stored[k] != at[k] {
				bad("key %s: the edge stored %d records, the hub holds %d", k, stored[k], at[k])
			}
		}
	}
	led.mu.Lock()
	defer led.mu.Unlock()
	for k, rs := range led.ranges {
		rs = slices.Clone(rs)
		slices.SortFunc(rs, func(a, b [2]uint64) int { return int(a[0]) - int(b[0]) })
		for i, r := range rs {
			if i > 0 && r[0] <= rs[i-1][1] {
				bad("key %s: records %d to %d were acknowledged twice: the edge reused sequence numbers it had acknowledged", k, r[0], min(r[1], rs[i-1][1]))
			}
			if r[1] >= at[k] {
				bad("key %s: records %d to %d were acknowledged, the hub holds %d records of the key", k, r[0], r[1], at[k])
			}
		}
	}
	return problems
}

// verifyCrash runs checkCrash on the two spools and reports its findings.
func verifyCrash(t *testing.T, edge, hub *spool.Spool, led *crashLedger) {
	t.Helper()
	for _, sp := range []*spool.Spool{edge, hub} {
		r, err := sp.Check()
		if err != nil {
			t.Fatalf("check %s: %v", sp.Path(), err)
		}
		for _, p := range r.Problems {
			t.Errorf("check %s: %s", sp.Path(), p)
		}
	}
	problems := checkCrash(readCrashRecs(t, edge, crashEdgeParts), readCrashRecs(t, hub, crashHubParts), led)
	for i, p := range problems {
		if i == 20 {
			t.Errorf("… and %d more problems", len(problems)-i)
			break
		}
		t.Error(p)
	}
}

// crashProc is a child process playing the edge or the hub.
type crashProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	addr    string        // a hub's address
	read    chan struct{} // closed when its stdout ends
	started chan string   // its first line
}

// startCrashProc starts the test binary as mode on dir; led, if set, takes
// the ack lines it prints. It returns once the child is serving.
func startCrashProc(t *testing.T, mode, dir, addr string, led *crashLedger) *crashProc {
	t.Helper()
	cmd, stdout := testproc.Start(t, crashModeEnv+"="+mode, crashDirEnv+"="+dir, crashAddrEnv+"="+addr)
	c := &crashProc{t: t, cmd: cmd, read: make(chan struct{}), started: make(chan string, 1)}
	go c.readLines(stdout, led)
	select {
	case line := <-c.started:
		if a, ok := strings.CutPrefix(line, "addr "); ok {
			c.addr = a
		} else if line != "ready" {
			c.kill()
			t.Fatalf("%s child: first line %q", mode, line)
		}
	case <-c.read:
		c.kill()
		t.Fatalf("%s child ended before it was serving", mode)
	case <-time.After(30 * time.Second):
		c.kill()
		t.Fatalf("%s child: not serving within 30s", mode)
	}
	return c
}

// readLines reads the child's output: the first line, then ack lines for
// led. A line cut short by the kill is ignored: its Append was acknowledged
// to nobody.
func (c *crashProc) readLines(stdout interface{ Read([]byte) (int, error) }, led *crashLedger) {
	defer close(c.read)
	r := bufio.NewReader(stdout)
	first := true
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		if first {
			c.started <- line
			first = false
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "ack" || led == nil {
			c.t.Errorf("child: unexpected line %q", line)
			continue
		}
		a, err1 := strconv.ParseUint(f[2], 10, 64)
		b, err2 := strconv.ParseUint(f[3], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			c.t.Errorf("child: line %q: %v", line, err)
			continue
		}
		led.ack(f[1], a, b)
	}
}

// kill ends the child with SIGKILL and waits for it and its output.
func (c *crashProc) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.read
	_ = c.cmd.Wait()
	if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		c.t.Errorf("the child ended on its own before the kill: %v", c.cmd.ProcessState)
	}
}

// crashPause is a random moment to kill at: 100 to 600 ms.
func crashPause() time.Duration { return time.Duration(100+rand.N(500)) * time.Millisecond }

// hubTotal is how many records the hub's crash stream holds.
func hubTotal(t testing.TB, sp *spool.Spool) uint64 {
	var n uint64
	for p := range crashHubParts {
		start, next, err := sp.Offsets(crashStream, p)
		if err != nil {
			t.Fatal(err)
		}
		n += next - start
	}
	return n
}

// drain runs a forwarder over the edge spool until the hub holds all of it.
func drain(t *testing.T, edge, hub *spool.Spool, addr string) {
	t.Helper()
	var want uint64
	for p := range crashEdgeParts {
		_, next, err := edge.Offsets(crashStream, p)
		if err != nil {
			t.Fatal(err)
		}
		want += next
	}
	f, err := newCrashForwarder(edge, addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	deadline := time.Now().Add(patience)
	for hubTotal(t, hub) < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := hubTotal(t, hub)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("forwarder Run: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("forwarder Close: %v", err)
	}
	if got < want {
		t.Errorf("after %s the hub holds %d records, the edge %d; status %+v", patience, got, want, f.Status())
	}
	// More than the edge has is a duplicate: checkCrash says which.
}

// The edge is killed at random moments while it produces and forwards,
// and restarted on its spool; the hub stays up.
func TestCrashEdge(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; not in -short")
	}
	edgeDir := t.TempDir()
	h, err := startCrashHub(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := h.close(); err != nil {
			t.Errorf("hub close: %v", err)
		}
	}()
	led := newCrashLedger()
	var atHub []uint64
	for cycle := range *crashCycles {
		c := startCrashProc(t, "edge", edgeDir, h.addr, led)
		time.Sleep(crashPause())
		c.kill()
		atHub = append(atHub, hubTotal(t, h.sp))
		if t.Failed() {
			t.Fatalf("cycle %d failed (see above)", cycle)
		}
	}
	edge, err := openCrashSpool(edgeDir, crashEdgeParts)
	if err != nil {
		t.Fatal(err)
	}
	defer edge.Close()
	drain(t, edge, h.sp, h.addr)
	verifyCrash(t, edge, h.sp, led)
	crashEnough(t, led, atHub)
	t.Logf("%d cycles: %d records acknowledged to the producer; at the hub after each kill: %v; in the end %d",
		*crashCycles, led.acked(), atHub, hubTotal(t, h.sp))
}

// The hub is killed at random moments while the edge produces and
// forwards, and restarted on its spool and port; the edge stays up.
func TestCrashHub(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; not in -short")
	}
	hubDir := t.TempDir()
	c := startCrashProc(t, "hub", hubDir, "127.0.0.1:0", nil)
	addr := c.addr
	edge, err := openCrashSpool(t.TempDir(), crashEdgeParts)
	if err != nil {
		c.kill()
		t.Fatal(err)
	}
	defer edge.Close()
	led := newCrashLedger()
	ctx, stop := context.WithCancel(context.Background())
	var producers sync.WaitGroup
	err = startProducers(ctx, edge, &producers, led.ack, func(err error) { t.Errorf("append: %v", err) })
	if err != nil {
		c.kill()
		t.Fatal(err)
	}
	f, err := newCrashForwarder(edge, addr)
	if err != nil {
		c.kill()
		t.Fatal(err)
	}
	fdone := make(chan error, 1)
	go func() { fdone <- f.Run(ctx) }()

	var sessions []int
	for cycle := range *crashCycles {
		if cycle > 0 {
			c = startCrashProc(t, "hub", hubDir, addr, nil)
		}
		time.Sleep(crashPause())
		c.kill()
		sessions = append(sessions, f.Status().Sessions)
		if t.Failed() {
			break
		}
	}
	stop()
	producers.Wait()
	if err := <-fdone; err != nil {
		t.Errorf("forwarder Run: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("forwarder Close: %v", err)
	}
	if t.Failed() {
		t.FailNow()
	}

	h, err := startCrashHub(hubDir, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := h.close(); err != nil {
			t.Errorf("hub close: %v", err)
		}
	}()
	atHub := hubTotal(t, h.sp)
	drain(t, edge, h.sp, addr)
	verifyCrash(t, edge, h.sp, led)
	crashEnough(t, led, []uint64{atHub})
	t.Logf("%d cycles: %d records acknowledged to the producer; sessions opened after each kill: %v; at the hub before the drain %d, after %d",
		*crashCycles, led.acked(), sessions, atHub, hubTotal(t, h.sp))
}

// crashEnough fails a run that tested nothing: the checks hold trivially
// when nothing was produced or nothing replicated before the last kill.
func crashEnough(t *testing.T, led *crashLedger, atHub []uint64) {
	t.Helper()
	if n := led.acked(); n < 10**crashCycles {
		t.Errorf("too little was acknowledged to test anything: %d records in %d cycles", n, *crashCycles)
	}
	if slices.Max(atHub) == 0 {
		t.Errorf("the hub held nothing before the final drain: no kill met replication under way")
	}
}

// The check must catch what it is for, or the crash tests prove nothing.
func TestCrashCheckCatches(t *testing.T) {
	rec := func(k string, seq uint64) crashRec { return crashRec{key: k, seq: seq, site: crashSite} }
	edge := [][]crashRec{{rec("a", 0), rec("a", 1), rec("a", 2)}, {rec("b", 0)}}
	led := func() *crashLedger {
		l := newCrashLedger()
		l.ack("a", 0, 1)
		l.ack("b", 0, 0)
		return l
	}
	good := [][]crashRec{{rec("b", 0)}, {rec("a", 0), rec("a", 1), rec("a", 2)}}
	if p := checkCrash(edge, good, led()); len(p) != 0 {
		t.Fatalf("sound records reported: %q", p)
	}
	otherSite := rec("b", 0)
	otherSite.site = "elsewhere"
	for name, hub := range map[string][][]crashRec{
		"duplicate":       {{rec("b", 0)}, {rec("a", 0), rec("a", 1), rec("a", 1), rec("a", 2)}},
		"duplicate last":  {{rec("b", 0), rec("b", 0)}, {rec("a", 0), rec("a", 1), rec("a", 2)}},
		"out of order":    {{rec("b", 0)}, {rec("a", 1), rec("a", 0), rec("a", 2)}},
		"acked one lost":  {{rec("b", 0)}, {rec("a", 1), rec("a", 2)}},
		"acked key lost":  {{}, {rec("a", 0), rec("a", 1), rec("a", 2)}},
		"unacked lost":    {{rec("b", 0)}, {rec("a", 0), rec("a", 1)}},
		"never stored":    {{rec("b", 0)}, {rec("a", 0), rec("a", 1), rec("a", 2), rec("a", 3)}},
		"two partitions":  {{rec("b", 0), rec("a", 2)}, {rec("a", 0), rec("a", 1)}},
		"site header":     {{otherSite}, {rec("a", 0), rec("a", 1), rec("a", 2)}},
		"unknown key":     {{rec("b", 0), rec("c", 0)}, {rec("a", 0), rec("a", 1), rec("a", 2)}},
		"everything lost": {{}, {}},
	} {
		if p := checkCrash(edge, hub, led()); len(p) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
	// An edge that lost an acknowledged record and produced its number
	// again: the hub's copy is unique, but the ledger shows the reuse.
	l := led()
	l.ack("a", 1, 2)
	if p := checkCrash(edge, good, l); len(p) == 0 {
		t.Error("a sequence number acknowledged twice: not caught")
	}
}
