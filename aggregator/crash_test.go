package aggregator

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"github.com/tributary-io/tributary/internal/testproc"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-io/tributary/spool"
)

var crashCycles = flag.Int("aggregator.crash.cycles", 12, "kill-and-restart cycles in TestCrashAggregator")

const crashChildEnv = "TRIBUTARY_AGGREGATOR_CRASH_CHILD"

// crashPipeline is what the crash test runs: a hopping window with every
// function (quantiles included) after a filter, with allowed lateness and
// corrections for late records, so that window state, the watermark and
// late handling all cross the kills.
func crashPipeline() PipelineConfig {
	return PipelineConfig{Name: "win", From: testIn, To: testOut, AllowedLateness: time.Second, Late: "correct", Steps: []StepConfig{
		{Filter: `v != nil`},
		{Window: &WindowConfig{Size: 2 * time.Second, Slide: time.Second, GroupBy: []string{"key"}, Aggregates: []AggregateConfig{
			{Field: "v", Functions: []string{"count", "sum", "min", "max", "mean", "first", "last", "stddev", "p50", "p95", "p99"}},
		}}},
	}}
}

// crashChild runs in a child process: the aggregator over the spool in
// dir, committing often, until it is killed.
func crashChild(dir string) {
	fail := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "crash child: %s: %v\n", what, err)
		os.Exit(3)
	}
	sp, err := spool.Open(dir, spool.Options{Linger: time.Millisecond})
	if err != nil {
		fail("open spool", err)
	}
	a, err := New(Options{Spool: sp, Pipelines: []PipelineConfig{crashPipeline()}, CommitInterval: 2 * time.Millisecond, CommitRecords: 50})
	if err != nil {
		fail("aggregator", err)
	}
	fmt.Println("running")
	if err := a.Run(context.Background()); err != nil {
		fail("run", err)
	}
	select {} // until SIGKILL
}

// TestCrashAggregator kills a node running a pipeline with SIGKILL at
// random moments, with input waiting, and restarts it on the same spool.
// After every kill the derived stream must be, key by key, a prefix of
// what an offline computation over the input gives; at the end, once the
// input is processed, exactly that.
func TestCrashAggregator(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; not in -short")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	p := crashPipeline()
	sp := openTestSpool(t, dir) // creates the streams
	sp.Close()
	input, killedWithWork := 0, 0
	for cycle := range *crashCycles {
		sp := openTestSpool(t, dir)
		appendInput(t, sp, testInput(rng, input, 8000, 40, 2*time.Second))
		input += 8000
		sp.Close()
		runCrashCycle(t, dir, cycle, time.Duration(2+rng.IntN(60))*time.Millisecond)
		sp = openTestSpool(t, dir)
		if behind(t, sp, p.Name) > 0 {
			killedWithWork++
		}
		checkPrefix(t, derived(t, sp), offline(t, sp, p))
		sp.Close()
		if t.Failed() {
			t.Fatalf("cycle %d failed (see above)", cycle)
		}
	}
	sp = openTestSpool(t, dir)
	defer sp.Close()
	stop := startAgg(t, sp, Options{Pipelines: []PipelineConfig{p}})
	waitCaughtUp(t, sp, p.Name)
	stop()
	got, want := derived(t, sp), offline(t, sp, p)
	sameOutput(t, got, want)
	n := 0
	for _, v := range want {
		n += len(v)
	}
	if killedWithWork < *crashCycles/2 {
		t.Errorf("only %d of %d kills came with input left to process: the test shows little", killedWithWork, *crashCycles)
	}
	t.Logf("%d cycles, %d killed mid-input; %d input records, %d derived", *crashCycles, killedWithWork, input, n)
}

// runCrashCycle starts a child on dir and kills it after it ran for d.
func runCrashCycle(t *testing.T, dir string, cycle int, d time.Duration) {
	t.Helper()
	cmd, stdout := testproc.Start(t, crashChildEnv+"="+dir)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "running" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("cycle %d: the child did not start: %q, %v", cycle, line, err)
	}
	time.Sleep(d)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// behind is how many input records the pipeline has not committed.
func behind(t testing.TB, sp *spool.Spool, pipeline string) uint64 {
	var n uint64
	for p := range testParts {
		_, next, err := sp.Offsets(testIn, p)
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := sp.Cursor("agg/"+pipeline, testIn, p)
		if err != nil {
			t.Fatal(err)
		}
		n += next - c.Offset
	}
	return n
}

// checkPrefix fails t unless each key's derived records are a prefix of
// what the offline computation gives.
func checkPrefix(t testing.TB, got, want map[string][]string) {
	t.Helper()
	for k, g := range got {
		if len(g) > len(want[k]) || !slices.Equal(g, want[k][:len(g)]) {
			sameOutput(t, map[string][]string{k: g}, map[string][]string{k: want[k][:min(len(g), len(want[k]))]})
			return
		}
	}
}
