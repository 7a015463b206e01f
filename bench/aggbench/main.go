// Command aggbench measures Tributary's window and deadband steps
// against the spool's raw read rate, in the same run, on the same records:
// 1-minute tumbling windows of mean/min/max/count grouped by device over
// 10,000 devices. See bench/README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "aggbench:", err)
		os.Exit(1)
	}
}

func run(args []string, out, progress io.Writer) error {
	c, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	prev := runtime.GOMAXPROCS(c.procs)
	defer runtime.GOMAXPROCS(prev)
	r := &report{cfg: c, args: args}
	return inTempDir(c.dir, func(dir string) error {
		fmt.Fprintf(progress, "aggbench: storing %d records in a spool under %s\n", c.records, dir)
		s, err := fill(dir, c)
		if err != nil {
			return err
		}
		defer s.Close() //nolint:errcheck // read-only use; the directory is removed after
		r.fs = fsKind(dir)
		r.printSettings(out)
		if err := r.measure(s, progress); err != nil {
			return err
		}
		r.print(out)
		if c.jsonPath != "" {
			return writeJSON(c.jsonPath, r)
		}
		return nil
	})
}

type config struct {
	runs     int
	records  int
	devices  int
	procs    int
	band     float64
	dir      string
	jsonPath string
	quick    bool
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("aggbench", flag.ContinueOnError)
	fs.IntVar(&c.runs, "runs", 5, "measured runs per figure, after one warm-up; each figure is their median")
	fs.IntVar(&c.records, "records", 2_000_000, "records stored and read in each run")
	fs.IntVar(&c.devices, "devices", 10_000, "devices (keys, and window groups)")
	fs.IntVar(&c.procs, "procs", 1, "GOMAXPROCS while measuring: 1 gives figures per core")
	fs.Float64Var(&c.band, "band", 0.5, "the deadband step's absolute threshold, in the value's unit (V)")
	fs.StringVar(&c.dir, "dir", os.TempDir(), "directory (and so filesystem) for the run's spool")
	fs.StringVar(&c.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.BoolVar(&c.quick, "quick", false, "smoke run: 3 runs, 400k records")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q; every setting is a flag (see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.quick && !set["runs"] {
		c.runs = 3
	}
	if c.quick && !set["records"] {
		c.records = 400_000
	}
	switch {
	case c.runs < 1:
		return c, fmt.Errorf("invalid -runs %d: must be at least 1", c.runs)
	case c.devices < 1 || c.records < c.devices:
		return c, fmt.Errorf("invalid -devices %d: must be from 1 to -records (%d)", c.devices, c.records)
	case c.procs < 1:
		return c, fmt.Errorf("invalid -procs %d: must be at least 1", c.procs)
	}
	return c, nil
}
