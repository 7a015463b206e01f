package main

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

// profile records, with perf, where the edge node spends its CPU in one
// extra QoS 1 × 100 run (not counted in the results), and prints the
// hottest symbols. The node serves no pprof endpoint; perf also sees the
// kernel's share (syscalls, TCP, fsync) that pprof would not.
func (r *report) profile(out io.Writer) error {
	if r.cfg.perfPath == "" {
		return nil
	}
	perf, err := exec.LookPath("perf")
	if err != nil {
		return fmt.Errorf("-perf needs perf (Debian: apt-get install linux-perf): %w", err)
	}
	tc := tpCase{QoS: 1, Publishers: 100}
	r.step("profiling Tributary with perf in one extra %s run into %s", tc, r.cfg.perfPath)
	run, err := tpOnce(r.cfg, r.tributary(), tc, r.cfg.warmup, r.cfg.duration, func(b *broker) (func() error, error) {
		return startPerf(perf, r.cfg.perfPath, b.pid())
	})
	if err != nil {
		return fmt.Errorf("profiled run: %w", err)
	}
	rep, err := exec.Command(perf, "report", "-i", r.cfg.perfPath, "--stdio", "--no-children", "--sort", "dso,symbol",
		"-g", "none", "--percent-limit", "0").Output()
	if err != nil {
		return fmt.Errorf("perf report: %w", err)
	}
	samples := parseReport(rep)
	t := &figure.Table{Title: fmt.Sprintf("Profile: Tributary, %s, %s while profiled (not counted above): self time by package",
		tc, figure.Rate(run.rate())), Header: []string{"self %", "package", "hottest symbols in it"}}
	for _, g := range byPackage(samples) {
		t.Row(fmt.Sprintf("%.1f%%", g.pct), g.name, strings.Join(g.top, ", "))
		r.Profile = append(r.Profile, fmt.Sprintf("%.1f%%\t%s\t%s", g.pct, g.name, strings.Join(g.top, ", ")))
	}
	t.Note("perf record -g -F 999 -p PID of the node over the measured phase; every sample's own function, summed by Go package (kernel and vDSO apart)")
	t.Note("all of it: perf report -i %s --no-children --sort dso,symbol", r.cfg.perfPath)
	t.Print(out)
	return nil
}

// startPerf attaches perf record to pid; the returned func stops it.
func startPerf(perf, path string, pid int) (func() error, error) {
	cmd := exec.Command(perf, "record", "-g", "-F", "999", "-o", path, "-p", strconv.Itoa(pid))
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf record: %w", err)
	}
	time.Sleep(300 * time.Millisecond) // let it attach
	return func() error {
		_ = cmd.Process.Signal(syscall.SIGINT)
		// perf may report the SIGINT that ends it as its exit status.
		if err := cmd.Wait(); err != nil && !strings.Contains(msg.String(), "Captured and wrote") {
			return fmt.Errorf("perf record: %w: %s", err, msg.String())
		}
		return nil
	}, nil
}

// sample is one line of perf report: a symbol's share of the samples.
type sample struct {
	pct         float64
	dso, symbol string
}

// parseReport reads perf report --stdio lines: "12.34%  dso  [.] symbol".
func parseReport(rep []byte) []sample {
	var out []sample
	sc := bufio.NewScanner(bytes.NewReader(rep))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasSuffix(f[0], "%") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			continue
		}
		sym := strings.TrimSpace(strings.TrimSuffix(strings.Join(f[3:], " "), " - -"))
		out = append(out, sample{pct: pct, dso: f[1], symbol: sym})
	}
	return out
}

// pkgShare is one package's share of the samples and its hottest symbols.
type pkgShare struct {
	name string
	pct  float64
	top  []string
}

// byPackage sums the samples by Go package, the heaviest first.
func byPackage(ss []sample) []pkgShare {
	idx := map[string]*pkgShare{}
	var order []*pkgShare
	for _, s := range ss { // perf sorts by share: the first symbols seen are the hottest
		name := packageOf(s)
		g := idx[name]
		if g == nil {
			g = &pkgShare{name: name}
			idx[name] = g
			order = append(order, g)
		}
		g.pct += s.pct
		if len(g.top) < 3 {
			g.top = append(g.top, shortSymbol(s.symbol))
		}
	}
	slices.SortStableFunc(order, func(a, b *pkgShare) int { return cmp.Compare(b.pct, a.pct) })
	var out []pkgShare
	for _, g := range order {
		if g.pct >= 0.5 {
			out = append(out, *g)
		}
	}
	return out
}

// packageOf names a sample's Go package, or kernel, vdso, or its library.
func packageOf(s sample) string {
	switch {
	case strings.HasPrefix(s.dso, "[kernel"):
		return "kernel"
	case s.dso == "[vdso]":
		return "vdso (clock_gettime)"
	case s.dso != "tributary":
		return s.dso
	}
	sym := s.symbol
	slash := strings.LastIndexByte(sym, '/')
	dot := strings.IndexByte(sym[slash+1:], '.')
	if dot < 0 {
		return "runtime (assembly)"
	}
	return sym[:slash+1+dot]
}

// shortSymbol drops the package path from a symbol.
func shortSymbol(sym string) string {
	if i := strings.LastIndexByte(sym, '/'); i >= 0 {
		sym = sym[i+1:]
	}
	return sym
}
