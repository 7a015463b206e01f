package firmwaresim

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

func TestRangesMergeInAnyOrder(t *testing.T) {
	var s ranges
	vals := rand.New(rand.NewPCG(1, 2)).Perm(1000)
	for _, v := range vals {
		if v%97 == 0 {
			continue // leave holes
		}
		s.add(uint64(v))
		s.add(uint64(v)) // twice: no effect
	}
	var want []string
	start := -1
	for v := 0; v <= 1000; v++ {
		in := v < 1000 && v%97 != 0
		switch {
		case in && start < 0:
			start = v
		case !in && start >= 0:
			want = append(want, Range{uint64(start), uint64(v - 1)}.String())
			start = -1
		}
	}
	if got := s.String(); got != strings.Join(want, ",") {
		t.Fatalf("got %s\nwant %s", got, strings.Join(want, ","))
	}
	if s.contains(97) || !s.contains(98) || s.count() != 1000-11 {
		t.Fatalf("contains/count wrong: %v %v %d", s.contains(97), s.contains(98), s.count())
	}
}

func TestLedgerRoundTrip(t *testing.T) {
	l := NewLedger("plant-01")
	for i := range uint64(100) {
		if i != 42 {
			l.Ack("meter-0001", i)
		}
	}
	l.Resent("meter-0001", 41)
	l.Ack("pmu-0001", 7)
	path := filepath.Join(t.TempDir(), "ledger.txt")
	if err := l.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Site() != "plant-01" || got.AckedCount() != 100 || !got.IsResent("meter-0001", 41) || got.IsResent("meter-0001", 40) {
		t.Fatalf("read back: site %q, %d acked", got.Site(), got.AckedCount())
	}
	if r := got.Acked("meter-0001"); len(r) != 2 || r[0] != (Range{0, 41}) || r[1] != (Range{43, 99}) {
		t.Fatalf("ranges %v", r)
	}
}

func TestParseLedgerErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"", "not a tributary-sim ledger"},
		{"meter acked 1 resent -\n", "not a tributary-sim ledger"},
		{"# tributary-sim ledger v1\nmeter acked 5-3 resent -\n", "l:2: acked: bad range"},
		{"# tributary-sim ledger v1\nmeter acked 1,1 resent -\n", "sorted"},
		{"# tributary-sim ledger v1\nmeter acked 1\n", "want DEVICE acked"},
		{"# tributary-sim ledger v1\nm acked - resent -\nm acked - resent -\n", "listed twice"},
	} {
		_, err := ParseLedger("l", strings.NewReader(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
	}
}
