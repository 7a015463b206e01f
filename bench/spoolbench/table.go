package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// table is one section's output: a title, a header row, rows and notes.
type table struct {
	title  string
	header []string
	rows   [][]string
	notes  []string
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

// print writes the table with aligned columns.
func (t *table) print(w io.Writer) {
	fmt.Fprintf(w, "\n== %s\n", t.title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	for _, n := range t.notes {
		fmt.Fprintf(w, "  * %s\n", n)
	}
}

// rate formats a per-second figure compactly: 1.23M/s, 456.7k/s.
func rate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk/s", v/1e3)
	}
	return fmt.Sprintf("%.0f/s", v)
}

// rateSpread formats a median rate and its range.
func rateSpread(s spread) string {
	return fmt.Sprintf("%s (%s–%s)", rate(s.Median), strings.TrimSuffix(rate(s.Min), "/s"), strings.TrimSuffix(rate(s.Max), "/s"))
}

// msSpread formats a median latency in ms and its range.
func msSpread(s spread) string {
	return fmt.Sprintf("%s (%s–%s)", msStr(s.Median), msStr(s.Min), msStr(s.Max))
}

// msStr formats milliseconds with precision fitting their size.
func msStr(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.3fms", v)
	case v < 100:
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

// numSpread formats a plain median with its range.
func numSpread(s spread, format string) string {
	return fmt.Sprintf(format+" ("+format+"–"+format+")", s.Median, s.Min, s.Max)
}

// ratio formats a/b as "0.85×", or "n/a" when b is unknown.
func ratio(a, b float64) string {
	if b <= 0 || a < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// cpuStr formats CPU-seconds per million records, or n/a.
func cpuStr(s spread) string {
	if s.Runs == 0 || s.Median < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", s.Median)
}

// mib formats a byte count.
func mib(n float64) string { return fmt.Sprintf("%.1f MiB", n/(1<<20)) }
