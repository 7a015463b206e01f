package proc

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestCappedKeepsTheFirstBytes(t *testing.T) {
	c := &Capped{Max: 5}
	for _, s := range []string{"abc", "defg", "hij"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := c.String(); got != "abcde" {
		t.Fatalf("got %q, want abcde", got)
	}
}

func TestCPUCountsThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, err := CPU(0); err == nil || !strings.Contains(err.Error(), "Linux") {
			t.Fatalf("CPU outside Linux: %v", err)
		}
		return
	}
	before, err := CPU(0)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		now, err := CPU(0)
		if err != nil {
			t.Fatal(err)
		}
		if now > before {
			return
		}
	}
	t.Fatal("CPU time did not grow while this test spun for 10 s")
}
