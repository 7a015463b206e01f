package firmwaresim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Ledger records, per device, the sequence numbers the broker acknowledged
// and those the device published more than once. It is safe for concurrent
// use.
//
// File format (text, one device a line, devices sorted):
//
//	# tributary-sim ledger v1
//	site SITE
//	DEVICE acked RANGES resent RANGES
//
// where RANGES is a comma list of FIRST-LAST (inclusive) or single numbers,
// or "-" for none; e.g. "meter-0001 acked 0-4811,4813-5000 resent 4812".
type Ledger struct {
	mu      sync.Mutex
	site    string
	devices map[string]*deviceLedger
}

type deviceLedger struct {
	acked, resent ranges
}

// NewLedger returns an empty ledger for site.
func NewLedger(site string) *Ledger {
	return &Ledger{site: site, devices: map[string]*deviceLedger{}}
}

// Site is the site the ledger's devices publish at.
func (l *Ledger) Site() string { return l.site }

func (l *Ledger) device(d string) *deviceLedger {
	dl := l.devices[d]
	if dl == nil {
		dl = &deviceLedger{}
		l.devices[d] = dl
	}
	return dl
}

// Ack records that the broker acknowledged device's message seq.
func (l *Ledger) Ack(device string, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.device(device).acked.add(seq)
}

// Resent records that device published seq again.
func (l *Ledger) Resent(device string, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.device(device).resent.add(seq)
}

// Devices returns the devices in the ledger, sorted.
func (l *Ledger) Devices() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.devices))
	for d := range l.devices {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Acked returns device's acknowledged ranges (copies).
func (l *Ledger) Acked(device string) []Range {
	l.mu.Lock()
	defer l.mu.Unlock()
	if dl := l.devices[device]; dl != nil {
		return slices.Clone(dl.acked.rs)
	}
	return nil
}

// IsResent says whether device published seq more than once.
func (l *Ledger) IsResent(device string, seq uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	dl := l.devices[device]
	return dl != nil && dl.resent.contains(seq)
}

// AckedCount is how many acknowledged messages the ledger holds in all.
func (l *Ledger) AckedCount() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n uint64
	for _, dl := range l.devices {
		n += dl.acked.count()
	}
	return n
}

// WriteFile writes the ledger to path atomically (a temporary file renamed
// over it), so that a reader never sees half a ledger.
func (l *Ledger) WriteFile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	if err := l.write(w); err != nil {
		tmp.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (l *Ledger) write(w io.Writer) error {
	devices := l.Devices()
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := fmt.Fprintf(w, "# tributary-sim ledger v1\nsite %s\n", l.site); err != nil {
		return err
	}
	for _, d := range devices {
		dl := l.devices[d]
		if _, err := fmt.Fprintf(w, "%s acked %s resent %s\n", d, dl.acked, dl.resent); err != nil {
			return err
		}
	}
	return nil
}

// ReadLedger reads a ledger file.
func ReadLedger(path string) (*Ledger, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseLedger(path, f)
}

// ParseLedger reads a ledger; name labels errors as NAME:LINE.
func ParseLedger(name string, r io.Reader) (*Ledger, error) {
	l := NewLedger("")
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	n, sawHeader := 0, false
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", name, n, fmt.Sprintf(format, args...))
		}
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "#"):
			if line == "# tributary-sim ledger v1" {
				sawHeader = true
			}
			continue
		case !sawHeader:
			return nil, bad("not a tributary-sim ledger (want the line \"# tributary-sim ledger v1\" first)")
		}
		f := strings.Fields(line)
		if f[0] == "site" && len(f) == 2 {
			l.site = f[1]
			continue
		}
		if len(f) != 5 || f[1] != "acked" || f[3] != "resent" {
			return nil, bad("want DEVICE acked RANGES resent RANGES, got %q", line)
		}
		if _, dup := l.devices[f[0]]; dup {
			return nil, bad("device %q listed twice", f[0])
		}
		acked, err := parseRanges(f[2])
		if err != nil {
			return nil, bad("acked: %v", err)
		}
		resent, err := parseRanges(f[4])
		if err != nil {
			return nil, bad("resent: %v", err)
		}
		l.devices[f[0]] = &deviceLedger{acked: acked, resent: resent}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !sawHeader {
		return nil, fmt.Errorf("%s: empty, or not a tributary-sim ledger", name)
	}
	return l, nil
}

// Range is an inclusive range of sequence numbers.
type Range struct{ First, Last uint64 }

func (r Range) String() string {
	if r.First == r.Last {
		return strconv.FormatUint(r.First, 10)
	}
	return strconv.FormatUint(r.First, 10) + "-" + strconv.FormatUint(r.Last, 10)
}

// ranges is a sorted list of disjoint, non-adjacent ranges.
type ranges struct{ rs []Range }

// add inserts v, merging neighbours. Appending in order is O(1).
func (s *ranges) add(v uint64) {
	n := len(s.rs)
	if n > 0 && s.rs[n-1].Last+1 == v {
		s.rs[n-1].Last = v
		return
	}
	if n == 0 || s.rs[n-1].Last < v {
		s.rs = append(s.rs, Range{v, v})
		return
	}
	i, _ := slices.BinarySearchFunc(s.rs, v, func(r Range, v uint64) int {
		switch {
		case r.Last < v:
			return -1
		case r.First > v:
			return 1
		}
		return 0
	})
	if i < len(s.rs) && s.rs[i].First <= v && v <= s.rs[i].Last {
		return // already there
	}
	s.rs = slices.Insert(s.rs, i, Range{v, v})
	// Merge with the neighbours it touches.
	if i+1 < len(s.rs) && s.rs[i].Last+1 == s.rs[i+1].First {
		s.rs[i].Last = s.rs[i+1].Last
		s.rs = slices.Delete(s.rs, i+1, i+2)
	}
	if i > 0 && s.rs[i-1].Last+1 == s.rs[i].First {
		s.rs[i-1].Last = s.rs[i].Last
		s.rs = slices.Delete(s.rs, i, i+1)
	}
}

func (s *ranges) contains(v uint64) bool {
	_, ok := slices.BinarySearchFunc(s.rs, v, func(r Range, v uint64) int {
		switch {
		case r.Last < v:
			return -1
		case r.First > v:
			return 1
		}
		return 0
	})
	return ok
}

func (s *ranges) count() uint64 {
	var n uint64
	for _, r := range s.rs {
		n += r.Last - r.First + 1
	}
	return n
}

func (s ranges) String() string {
	if len(s.rs) == 0 {
		return "-"
	}
	parts := make([]string, len(s.rs))
	for i, r := range s.rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

func parseRanges(text string) (ranges, error) {
	var s ranges
	if text == "-" {
		return s, nil
	}
	for _, p := range strings.Split(text, ",") {
		a, b, isRange := strings.Cut(p, "-")
		first, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return s, fmt.Errorf("bad number %q", a)
		}
		last := first
		if isRange {
			if last, err = strconv.ParseUint(b, 10, 64); err != nil || last < first {
				return s, fmt.Errorf("bad range %q", p)
			}
		}
		if n := len(s.rs); n > 0 && first <= s.rs[n-1].Last+1 {
			return s, errors.New("ranges must be sorted, disjoint and not adjacent")
		}
		s.rs = append(s.rs, Range{first, last})
	}
	return s, nil
}
