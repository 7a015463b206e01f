package spool

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"github.com/tributary-io/tributary/internal/testproc"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var crashCycles = flag.Int("crash.cycles", 20, "kill-and-recover cycles in TestCrashRecovery")

const crashChildEnv = "TRIBUTARY_SPOOL_CRASH_CHILD"

// crashChild runs in a child process: it appends from many goroutines, some
// blocking and some asynchronous, and prints "ack PARTITION OFFSET KEY SEQ"
// for each record once its commit is acknowledged, until it is killed.
func crashChild(dir string) {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	if err := s.EnsureStream(testStream("crash", 4)); err != nil {
		fmt.Fprintln(os.Stderr, "child stream:", err)
		os.Exit(3)
	}
	out := &lockedWriter{w: os.Stdout}
	fmt.Fprintln(out, "ready")
	run := fmt.Sprint(os.Getpid())
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() { crashProducer(s, out, fmt.Sprintf("dev-%s-%d", run, g), g%2 == 0) })
	}
	wg.Wait()
}

func crashProducer(s *Spool, out io.Writer, key string, async bool) {
	for seq := 0; ; seq++ {
		r := rec(key, seq)
		ack := func(res Result) {
			if res.Err == nil {
				fmt.Fprintf(out, "ack %d %d %s %d\n", res.Positions[0].Partition, res.Positions[0].Offset, key, seq)
			}
		}
		if async {
			if err := s.AppendAsync(context.Background(), "crash", []Record{r}, ack); err != nil {
				return
			}
			continue
		}
		res, _ := s.Commit(context.Background(), new(Txn).Append("crash", r))
		ack(res)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type acked struct {
	p   int
	off uint64
	key string
	seq int
}

// TestCrashRecovery kills a writing process with SIGKILL at random moments
// and checks, each time, that every acknowledged record is present and
// intact and that the offsets have no holes.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; not in -short")
	}
	dir := t.TempDir()
	var all []acked
	for cycle := range *crashCycles {
		got := runCrashChild(t, dir, time.Duration(20+rand.IntN(200))*time.Millisecond)
		all = append(all, got...)
		verifyAfterCrash(t, dir, all)
		if t.Failed() {
			t.Fatalf("cycle %d: acknowledged data lost or damaged", cycle)
		}
	}
	t.Logf("%d cycles, %d acknowledged records checked", *crashCycles, len(all))
}

// runCrashChild starts the child, lets it write for d, kills it, and returns
// what it acknowledged.
func runCrashChild(t *testing.T, dir string, d time.Duration) []acked {
	t.Helper()
	cmd, stdout := testproc.Start(t, crashChildEnv+"="+dir)
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("child did not start: %q", lines.Text())
	}
	timer := time.AfterFunc(d, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
	defer timer.Stop()
	var got []acked
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) != 5 || f[0] != "ack" {
			continue // a line cut by the kill
		}
		p, _ := strconv.Atoi(f[1])
		off, _ := strconv.ParseUint(f[2], 10, 64)
		seq, _ := strconv.Atoi(f[4])
		got = append(got, acked{p: p, off: off, key: f[3], seq: seq})
	}
	_ = cmd.Wait()
	return got
}

func verifyAfterCrash(t *testing.T, dir string, all []acked) {
	t.Helper()
	r, err := CheckDir(dir)
	if err != nil {
		t.Fatalf("CheckDir after kill: %v", err)
	}
	for _, p := range r.Problems {
		t.Errorf("after kill: %s", p)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	parts := map[int][]Record{}
	for p := range 4 {
		parts[p], _ = readAll(t, s, "crash", p, 0)
	}
	for _, a := range all {
		recs := parts[a.p]
		if a.off >= uint64(len(recs)) {
			t.Errorf("acknowledged %s/%d at %d/%d is missing (partition has %d)", a.key, a.seq, a.p, a.off, len(recs))
			continue
		}
		if want := rec(a.key, a.seq); !sameRecord(recs[a.off], want) {
			t.Errorf("acknowledged %s/%d at %d/%d holds another record", a.key, a.seq, a.p, a.off)
		}
	}
}
