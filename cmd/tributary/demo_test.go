package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	for _, args := range [][]string{{"demo", "--devices", "0"}, {"demo", "--profile", "toaster"}, {"demo", "--rate", "fast"}, {"demo", "extra"}} {
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
