// Command aggbench measures Tributary's window and deadband steps
// against the spool's raw read rate, in the same run, on the same records:
// 1-minute tumbling windows of mean/min/max/count grouped by device over
// 10,000 devices. See bench/README.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/tributary-io/tributary/bench/internal/cli"
	"github.com/tributary-io/tributary/bench/internal/host"
)

func main() { cli.Main("aggbench", parseFlags, run) }

func run(c config, args []string, out, progress io.Writer) error {
	prev := runtime.GOMAXPROCS(c.procs)
	defer runtime.GOMAXPROCS(prev)
	r := &report{cfg: c, args: args}
	return host.InTempDir(c.dir, "aggbench-", func(dir string) error {
		fmt.Fprintf(progress, "aggbench: storing %d records in a spool under %s\n", c.records, dir)
		s, err := fill(dir, c)
		if err != nil {
			return err
		}
		defer s.Close() //nolint:errcheck // read-only use; the directory is removed after
		r.fs = host.FSKind(dir)
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
	set, err := cli.Parse(fs, args)
	if err != nil {
		return c, err
	}
	if c.quick {
		cli.Quick(set, map[string]func(){
			"runs":    func() { c.runs = 3 },
			"records": func() { c.records = 400_000 },
		})
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
