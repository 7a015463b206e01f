package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/tributary-io/tributary/bench/internal/cli"
)

// config is the command line.
type config struct {
	runs          int
	duration      time.Duration // measured phase of a throughput run
	warmup        time.Duration // warm-up phase before it, same broker
	latencyDur    time.Duration
	rate          int // offered load of the latency runs, msg/s
	latPublishers int
	window        int // QoS 1 PUBLISHes in flight per publisher
	conns         int // idle connections
	publishers    []int
	qos           []byte
	brokers       []string
	sections      []int
	pin           bool
	dir           string
	jsonPath      string
	perfPath      string
	genProfile    string
	quick         bool
}

var allBrokers = []string{"tributary", "mosquitto", "mochi"}

func parseFlags(args []string) (config, error) {
	var c config
	var pubs, qos, brokers, sections string
	fs := flag.NewFlagSet("mqttbench", flag.ContinueOnError)
	fs.IntVar(&c.runs, "runs", 3, "measured runs per figure (each on a fresh broker, after a warm-up phase); each figure is their median")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "measured phase of each throughput run")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "warm-up phase before it, on the same broker and connections (not counted)")
	fs.DurationVar(&c.latencyDur, "latency-duration", 5*time.Second, "measured part of each fixed-load latency run (after -warmup)")
	fs.IntVar(&c.rate, "rate", 10000, "offered load of the latency runs, messages/s")
	fs.IntVar(&c.latPublishers, "latency-publishers", 100, "publishers sharing the latency runs' load")
	fs.IntVar(&c.window, "window", 64, "QoS 1 PUBLISHes in flight per publisher in the throughput runs")
	fs.IntVar(&c.conns, "conns", 10000, "idle connections of the memory runs (section 3)")
	fs.StringVar(&pubs, "publishers", "1,100,1000", "publisher counts of the throughput runs (each its own connection)")
	fs.StringVar(&qos, "qos", "0,1", "QoS levels of the throughput runs")
	fs.StringVar(&brokers, "brokers", strings.Join(allBrokers, ","), "brokers to measure: tributary, mosquitto, mochi")
	fs.StringVar(&sections, "sections", "1,2,3", "sections: 1 throughput, 2 latency, 3 idle memory")
	fs.BoolVar(&c.pin, "pin", true, "pin each broker to CPU 1 and the load generator to CPU 0 (needs 2 CPUs)")
	fs.StringVar(&c.dir, "dir", os.TempDir(), "directory (and filesystem) for the brokers' temporary data directories")
	fs.StringVar(&c.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&c.perfPath, "perf", "", "record a perf profile of Tributary in one extra QoS 1 × 100 run into this file, and print its hot spots")
	fs.StringVar(&c.genProfile, "genprofile", "", "write a Go CPU profile of the load generator (this process) over the whole run to this file")
	fs.BoolVar(&c.quick, "quick", false, "smoke run of about a minute: 1 run per figure, 1 s phases, 0.5 s warm-up")
	set, err := cli.Parse(fs, args)
	if err != nil {
		return c, err
	}
	if c.quick {
		cli.Quick(set, map[string]func(){
			"runs":             func() { c.runs = 1 },
			"duration":         func() { c.duration = time.Second },
			"warmup":           func() { c.warmup = 500 * time.Millisecond },
			"latency-duration": func() { c.latencyDur = 1500 * time.Millisecond },
		})
	}
	if c.publishers, err = cli.Ints("publishers", pubs, 1, 5000); err != nil {
		return c, err
	}
	qs, err := cli.Ints("qos", qos, 0, 1)
	if err != nil {
		return c, err
	}
	for _, q := range qs {
		c.qos = append(c.qos, byte(q))
	}
	if c.sections, err = cli.Ints("sections", sections, 1, 3); err != nil {
		return c, err
	}
	if c.brokers, err = parseBrokers(brokers); err != nil {
		return c, err
	}
	return c, c.validate()
}

// parseBrokers keeps the order of allBrokers (Tributary first: the ratios
// are Tributary's over each peer).
func parseBrokers(s string) ([]string, error) {
	var want []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if !slices.Contains(allBrokers, f) {
			return nil, fmt.Errorf("invalid -brokers %q: want some of %s", s, strings.Join(allBrokers, ", "))
		}
		want = append(want, f)
	}
	var out []string
	for _, b := range allBrokers {
		if slices.Contains(want, b) {
			out = append(out, b)
		}
	}
	return out, nil
}

func (c config) validate() error {
	switch {
	case c.runs < 1:
		return fmt.Errorf("invalid -runs %d: at least 1", c.runs)
	case c.duration < 100*time.Millisecond || c.latencyDur < 100*time.Millisecond || c.warmup < 0:
		return errors.New("invalid -duration or -latency-duration (at least 100ms) or -warmup (not negative)")
	case c.window < 1 || c.window > 65535:
		return fmt.Errorf("invalid -window %d: 1 to 65535", c.window)
	case c.latPublishers < 1 || c.rate < c.latPublishers:
		return fmt.Errorf("invalid -rate %d or -latency-publishers %d: at least one publisher, and at least 1 msg/s each", c.rate, c.latPublishers)
	case c.conns < 1:
		return fmt.Errorf("invalid -conns %d: at least 1", c.conns)
	case c.perfPath != "" && !slices.Contains(c.brokers, "tributary"):
		return errors.New("-perf profiles Tributary: keep tributary in -brokers")
	}
	return nil
}

func (c config) has(section int) bool { return slices.Contains(c.sections, section) }

// pinned reports whether brokers and generator get a core each.
func (c config) pinned() bool { return c.pin && runtime.NumCPU() >= 2 }

// brokerCPU is the CPU list for taskset, or "" when not pinning.
func (c config) brokerCPU() string {
	if c.pinned() {
		return "1"
	}
	return ""
}
