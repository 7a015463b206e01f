package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/tributary-io/tributary/bench/internal/cli"
)

// config is the command line.
type config struct {
	runs       int
	duration   time.Duration // each throughput run (section 2)
	latencyDur time.Duration // each latency run (section 3)
	rate       int           // offered load of section 3, records/s
	records    int           // records stored for sections 1b and 4–6
	fsyncs     int           // samples of section 1a
	dir        string
	jsonPath   string
	cpuProfile string
	latProfile string
	linger     time.Duration
	sections   []int
	quick      bool
}

func parseFlags(args []string) (config, error) {
	var c config
	var sections string
	fs := flag.NewFlagSet("spoolbench", flag.ContinueOnError)
	fs.IntVar(&c.runs, "runs", 5, "measured runs per figure, after one warm-up; each figure is their median")
	fs.DurationVar(&c.duration, "duration", 3*time.Second, "length of each append-throughput run (section 2)")
	fs.DurationVar(&c.latencyDur, "latency-duration", 5*time.Second, "length of each fixed-load latency run (section 3)")
	fs.IntVar(&c.rate, "rate", 10000, "offered load of the latency runs, records/s (a multiple of 1000)")
	fs.IntVar(&c.records, "records", 1_000_000, "records stored for the raw bbolt reference and sections 4 to 6")
	fs.IntVar(&c.fsyncs, "fsyncs", 200, "write+sync samples of the disk latency (section 1a)")
	fs.StringVar(&c.dir, "dir", os.TempDir(), "directory (and so filesystem) for the runs' temporary directories")
	fs.StringVar(&c.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of one extra asynchronous 256-producer run to this file")
	fs.StringVar(&c.latProfile, "latprofile", "", "write a CPU profile of one extra fixed-load latency run to this file")
	fs.DurationVar(&c.linger, "linger", 0, "spool Options.Linger, for experiments (0: the spool's default)")
	fs.StringVar(&sections, "sections", "1,2,3,4,5,6", "comma-separated sections to run")
	fs.BoolVar(&c.quick, "quick", false, "smoke run of about 30 s: 3 runs per figure, 1 s and 1.5 s runs, 200k records")
	set, err := cli.Parse(fs, args)
	if err != nil {
		return c, err
	}
	if c.quick {
		cli.Quick(set, map[string]func(){
			"runs":             func() { c.runs = 3 },
			"duration":         func() { c.duration = time.Second },
			"latency-duration": func() { c.latencyDur = 1500 * time.Millisecond },
			"records":          func() { c.records = 200_000 },
			"fsyncs":           func() { c.fsyncs = 100 },
		})
	}
	if c.sections, err = cli.Ints("sections", sections, 1, 6); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c config) validate() error {
	switch {
	case c.runs < 1:
		return fmt.Errorf("invalid -runs %d: at least 1", c.runs)
	case c.duration < 100*time.Millisecond || c.latencyDur < 100*time.Millisecond:
		return errors.New("invalid -duration or -latency-duration: at least 100ms")
	case c.rate < 1000 || c.rate%1000 != 0:
		return fmt.Errorf("invalid -rate %d: a positive multiple of 1000 (records are offered every millisecond)", c.rate)
	case c.records < 1000:
		return fmt.Errorf("invalid -records %d: at least 1000", c.records)
	case c.linger < 0:
		return fmt.Errorf("invalid -linger %v: not negative", c.linger)
	case c.fsyncs < 10:
		return fmt.Errorf("invalid -fsyncs %d: at least 10", c.fsyncs)
	}
	return nil
}

// has reports whether section n is to run.
func (c config) has(n int) bool { return slices.Contains(c.sections, n) }

// warmDuration is the length of a warm-up run: a third of a measured one,
// at least half a second.
func warmDuration(d time.Duration) time.Duration { return max(d/3, 500*time.Millisecond) }
