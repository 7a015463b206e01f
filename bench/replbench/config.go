package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/tributary-io/tributary/bench/internal/cli"
	"github.com/tributary-io/tributary/bench/internal/replwork"
)

// config is the command line.
type config struct {
	runs       int
	records    int // backlog drained in sections 1 and 2
	devices    int
	fillBatch  int // records per spool.Append when filling the edge spool
	mqttWindow int // QoS 1 PUBLISHes in flight from the Mosquitto publisher
	rate       int // offered load of section 3, records/s
	group      int // records per Append in section 3
	latDur     time.Duration
	warmup     time.Duration
	sections   []int
	dir        string
	jsonPath   string
	perf       string // file prefix for perf recordings of hub and edge
	quick      bool
}

func parseFlags(args []string) (config, error) {
	var c config
	var sections string
	fs := flag.NewFlagSet("replbench", flag.ContinueOnError)
	fs.IntVar(&c.runs, "runs", 3, "measured runs per figure, each on fresh nodes and brokers; each figure is their median")
	fs.IntVar(&c.records, "records", 1_000_000, "records in the backlog (sections 1 and 2)")
	fs.IntVar(&c.devices, "devices", 1000, "distinct devices (record keys)")
	fs.IntVar(&c.fillBatch, "fill-batch", 5000, "records per spool.Append when the edge spool is filled")
	fs.IntVar(&c.mqttWindow, "mqtt-window", 256, "QoS 1 PUBLISHes in flight from the publisher to the edge Mosquitto")
	fs.IntVar(&c.rate, "rate", 10000, "offered load of section 3, records/s (a multiple of 1000)")
	fs.IntVar(&c.group, "group", 10, "records per Append in section 3 (one group every group/rate seconds)")
	fs.DurationVar(&c.latDur, "latency-duration", 10*time.Second, "measured part of each latency run (after -warmup)")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "warm-up of each latency run, not counted")
	fs.StringVar(&sections, "sections", "1,2,3", "sections: 1 Tributary drain, 2 Mosquitto bridge, 3 latency")
	fs.StringVar(&c.dir, "dir", os.TempDir(), "directory (and filesystem) for the nodes' and brokers' data")
	fs.StringVar(&c.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&c.perf, "perf", "", "after the measured runs, one extra Tributary drain (not counted) with `perf record -g` attached to the hub and the edge, into PREFIX-hub.data and PREFIX-edge.data")
	fs.BoolVar(&c.quick, "quick", false, "smoke run of about a minute: 1 run, 100k records, 3 s latency runs")
	set, err := cli.Parse(fs, args)
	if err != nil {
		return c, err
	}
	if c.quick {
		cli.Quick(set, map[string]func(){
			"runs":             func() { c.runs = 1 },
			"records":          func() { c.records = 100_000 },
			"latency-duration": func() { c.latDur = 3 * time.Second },
			"warmup":           func() { c.warmup = 500 * time.Millisecond },
		})
	}
	if c.sections, err = cli.Ints("sections", sections, 1, 3); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c config) validate() error {
	if err := replwork.ValidateBacklog(c.runs, c.records, c.devices, c.fillBatch); err != nil {
		return err
	}
	switch {
	case c.mqttWindow < 1 || c.mqttWindow > 65535:
		return fmt.Errorf("invalid -mqtt-window %d: 1 to 65535", c.mqttWindow)
	case c.rate < 1000 || c.rate%1000 != 0:
		return fmt.Errorf("invalid -rate %d: a multiple of 1000", c.rate)
	case c.group < 1 || c.group > c.rate/1000*1000:
		return fmt.Errorf("invalid -group %d: 1 to -rate", c.group)
	case c.latDur < 100*time.Millisecond || c.warmup < 0:
		return fmt.Errorf("invalid -latency-duration (at least 100ms) or -warmup (not negative)")
	}
	return nil
}

func (c config) has(section int) bool { return slices.Contains(c.sections, section) }
