// Package cli holds the command-line frame the bench programs share: main's
// run-and-exit, and the parsing around each program's own flags (no
// positional arguments, the shortened settings of -quick, comma-separated
// lists of numbers).
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Main parses the command line with parse and runs run with it, the report
// going to stdout and progress to stderr. -h prints the flags and exits 0;
// an error is printed as "prog: error" and exits 1.
func Main[C any](prog string, parse func(args []string) (C, error), run func(c C, args []string, out, progress io.Writer) error) {
	args := os.Args[1:]
	c, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err == nil {
		err = run(c, args, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, prog+":", err)
		os.Exit(1)
	}
}

// Parse parses args with fs, refuses positional arguments (every setting is
// a flag), and returns the names of the flags given.
func Parse(fs *flag.FlagSet, args []string) (map[string]bool, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q; every setting is a flag (see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set, nil
}

// Quick applies the -quick setting of each flag, by name, that the user did
// not give (set, from Parse).
func Quick(set map[string]bool, quick map[string]func()) {
	for name, apply := range quick {
		if !set[name] {
			apply()
		}
	}
}

// Ints parses the comma-separated numbers of flag -name, each from lo to
// hi, into a sorted list without repeats.
func Ints(name, s string, lo, hi int) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("invalid -%s %q: want numbers from %d to %d, comma-separated", name, s, lo, hi)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}
