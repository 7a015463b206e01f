package figure

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Table is one section's output: a title, a header row, rows and notes.
type Table struct {
	Title  string
	Header []string
	Rows   [][]string
	Notes  []string
}

// Row adds a row of cells.
func (t *Table) Row(cells ...string) { t.Rows = append(t.Rows, cells) }

// Note adds a note, printed under the rows.
func (t *Table) Note(format string, args ...any) {
	t.Notes = append(t.Notes, fmt.Sprintf(format, args...))
}

// Print writes the table with aligned columns.
func (t *Table) Print(w io.Writer) {
	fmt.Fprintf(w, "\n== %s\n", t.Title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.Header, "\t"))
	for _, r := range t.Rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	for _, n := range t.Notes {
		fmt.Fprintf(w, "  * %s\n", n)
	}
}

// Rate formats a per-second figure compactly: 1.23M/s, 456.7k/s.
func Rate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk/s", v/1e3)
	}
	return fmt.Sprintf("%.0f/s", v)
}

// RateSpread formats a median rate and its range.
func RateSpread(s Spread) string {
	return fmt.Sprintf("%s (%s–%s)", Rate(s.Median), strings.TrimSuffix(Rate(s.Min), "/s"), strings.TrimSuffix(Rate(s.Max), "/s"))
}

// MsSpread formats a median latency in ms and its range.
func MsSpread(s Spread) string {
	return fmt.Sprintf("%s (%s–%s)", MsStr(s.Median), MsStr(s.Min), MsStr(s.Max))
}

// MsStr formats milliseconds with precision fitting their size.
func MsStr(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.3fms", v)
	case v < 100:
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

// NumSpread formats a plain median with its range.
func NumSpread(s Spread, format string) string {
	return fmt.Sprintf(format+" ("+format+"–"+format+")", s.Median, s.Min, s.Max)
}

// Ratio formats a/b as "0.85×", or "n/a" when b is unknown.
func Ratio(a, b float64) string {
	if b <= 0 || a < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
