package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The end-to-end check: hub, edge and a fleet for 20 s at a modest
// rate, with a link cut and an edge restart in the middle; the verifier
// must find every acknowledged reading at the hub exactly once.
func TestDemoSurvivesChaosExactlyOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	// --chaos-every 4s: the first event (a cut of at most 6 s) comes by 6 s,
	// the second (a restart) by 18 s.
	code, out, errOut := tributary(t, "demo", "--dir", dir, "--devices", "20", "--rate", "5/s", "--duration", "20s",
		"--chaos", "--chaos-every", "4s", "--status", "2s")
	t.Logf("demo output:\n%s", out)
	if code != exitOK {
		t.Fatalf("demo exit %d; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"chaos: link to the hub cut", "chaos: link restored", "chaos: restarting the edge node",
		"chaos: edge node back", "0 missing, 0 duplicated", "— OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
	var sent, acked int
	if i := strings.Index(out, "fleet stopped:"); i < 0 {
		t.Errorf("no fleet summary")
	} else if _, err := fmt.Sscanf(out[i:], "fleet stopped: 20 devices, %d sent, %d acknowledged", &sent, &acked); err != nil || acked < 500 {
		t.Errorf("fleet summary unreadable or too few acknowledged (%d, %v): the check would prove little", acked, err)
	}
}

func TestDemoUsage(t *testing.T) {
	for _, args := range [][]string{{"demo", "--devices", "0"}, {"demo", "--profile", "toaster"}, {"demo", "--rate", "fast"}, {"demo", "extra"}, {"demo", "--kafka", "kafka-1"}, {"demo", "--kafka", ","}} {
		if code, _, _ := tributary(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// A second run in the same directory starts fresh (the devices count from
// 0 again, so the old records would read as duplicates); a directory that
// is not the demo's is refused, not cleared.
func TestDemoRunsAgainFreshAndKeepsOtherDirs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	for run := range 2 {
		code, out, errOut := tributary(t, "demo", "--dir", dir, "--devices", "5", "--rate", "5/s", "--duration", "3s")
		if code != exitOK || !strings.Contains(out, "0 missing, 0 duplicated") {
			t.Fatalf("run %d: exit %d\n%s\n%s", run+1, code, out, errOut)
		}
		if cleared := strings.Contains(out, "was cleared"); cleared != (run == 1) {
			t.Fatalf("run %d: cleared = %v:\n%s", run+1, cleared, out)
		}
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := tributary(t, "demo", "--dir", other, "--duration", "1s"); code != exitUsage || !strings.Contains(errOut, "holds other files") {
		t.Fatalf("a foreign dir: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(other, "notes.txt")); err != nil {
		t.Fatalf("the foreign dir was touched: %v", err)
	}
}

// With --kafka the hub writes into Kafka (here franz-go's in-process
// cluster) and the verifier reads the topics: every acknowledged reading
// once, through a link cut, and the topics hold exactly what the verifier
// counted. A second run on the same cluster writes topics of its own, so
// the first run's records (the devices count from 0 again) are no
// duplicates of its own.
func TestDemoKafkaExactlyOnceRunAfterRun(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	brokers := strings.Join(kc.ListenAddrs(), ",")
	dir := filepath.Join(t.TempDir(), "demo")
	topicsRE := regexp.MustCompile(`(?m)^  topics +(tributary-demo-[0-9a-f-]+-)\{([a-z,]+)\}; checkpoints in (\S+)$`)
	seen := map[string]bool{}
	for run := range 2 {
		args := []string{"demo", "--dir", dir, "--kafka", brokers, "--devices", "5", "--rate", "10/s", "--status", "1s"}
		if run == 0 {
			// The first event, a link cut, comes within 1 to 3 s.
			args = append(args, "--duration", "6s", "--chaos", "--chaos-every", "2s")
		} else {
			args = append(args, "--duration", "3s")
		}
		code, out, errOut := tributary(t, args...)
		t.Logf("run %d output:\n%s", run+1, out)
		if code != exitOK {
			t.Fatalf("run %d: exit %d; stderr:\n%s", run+1, code, errOut)
		}
		wants := []string{"a hub writing into Kafka", "isolation.level=read_committed", "tributary verify --ledger ",
			"  in Kafka ", "in Kafka: 0 missing, 0 duplicated", "— OK"}
		if run == 0 {
			wants = append(wants, "chaos: link to the hub cut")
		}
		for _, want := range wants {
			if !strings.Contains(out, want) {
				t.Errorf("run %d: the output lacks %q", run+1, want)
			}
		}
		m := topicsRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("run %d: no topics line in the banner", run+1)
		}
		prefix, ckpt := m[1], m[3]
		if seen[prefix] || seen[ckpt] {
			t.Fatalf("run %d: topics %s… or %s again: the runs collide", run+1, prefix, ckpt)
		}
		seen[prefix], seen[ckpt] = true, true
		var topics []string
		for n := range strings.SplitSeq(m[2], ",") {
			topics = append(topics, prefix+n)
		}
		var devices, acked, inKafka int
		i := strings.Index(out, "\nverify: ")
		if i < 0 {
			t.Fatalf("run %d: no verdict", run+1)
		}
		if _, err := fmt.Sscanf(strings.ReplaceAll(out[i+1:], ",", ""), "verify: %d devices %d acked %d in Kafka", &devices, &acked, &inKafka); err != nil || acked < 100 {
			t.Fatalf("run %d: verdict unreadable or too few acknowledged (%d, %v): the check would prove little", run+1, acked, err)
		}
		if n := countCommitted(t, brokers, topics, inKafka); n != inKafka {
			t.Errorf("run %d: the topics hold %d records at read_committed; the verifier counted %d", run+1, n, inKafka)
		}
	}
}

// A --kafka where no broker answers fails at the start, not after the run.
func TestDemoKafkaUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	code, out, errOut := tributary(t, "demo", "--dir", filepath.Join(t.TempDir(), "demo"), "--kafka", addr, "--duration", "30s")
	if code != exitFailure || !strings.Contains(errOut, "no Kafka broker answers at "+addr) || strings.Contains(out, "devices") {
		t.Fatalf("exit %d, want %d and a word on the brokers\n%s%s", code, exitFailure, out, errOut)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %v to give up", d)
	}
}

// countCommitted reads topics from the start at read_committed and counts
// their records: until it has want and the topics have been quiet for a
// moment, or for 10 s at most.
func countCommitted(t *testing.T, brokers string, topics []string, want int) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		got := fs.NumRecords()
		n += got
		if got == 0 && n >= want {
			break
		}
	}
	return n
}
