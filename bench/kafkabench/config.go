package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tributary-io/tributary/bench/internal/cli"
	"github.com/tributary-io/tributary/bench/internal/replwork"
)

// The sinks a run can measure, in the order they run within a round.
const (
	sinkSpool     = "spool"       // the hub's own spool (the default sink)
	sinkKafka     = "kafka"       // kfake in memory
	sinkKafkaSync = "kafka-fsync" // kfake with a data directory and an fsync per produced batch
)

var allSinks = []string{sinkSpool, sinkKafka, sinkKafkaSync}

// config is the command line.
type config struct {
	runs      int
	records   int
	devices   int
	fillBatch int
	sinks     []string
	dir       string
	jsonPath  string
	profile   string // CPU profile of one extra drain into the first sink
	warmup    bool
	brokers   int           // kfake brokers
	codec     string        // the hub's Kafka compression
	linger    time.Duration // the hub's Kafka client's linger; < 0: the client's default
	quick     bool
}

func parseFlags(args []string) (config, error) {
	var c config
	var sinks string
	fs := flag.NewFlagSet("kafkabench", flag.ContinueOnError)
	fs.IntVar(&c.runs, "runs", 5, "measured runs per sink, each on a fresh hub (and a fresh Kafka); each figure is their median")
	fs.IntVar(&c.records, "records", 1_000_000, "records in the edge's backlog, drained by every run")
	fs.IntVar(&c.devices, "devices", 1000, "distinct devices (record keys)")
	fs.IntVar(&c.fillBatch, "fill-batch", 5000, "records per spool.Append when the edge spool is filled")
	fs.StringVar(&sinks, "sinks", sinkSpool+","+sinkKafka+","+sinkKafkaSync, "sinks to measure, comma-separated: "+strings.Join(allSinks, ", "))
	fs.StringVar(&c.dir, "dir", os.TempDir(), "directory (and filesystem) for the spools and kfake's data")
	fs.StringVar(&c.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&c.profile, "cpuprofile", "", "after the measured runs, one extra drain into the first of -sinks (not counted) with a CPU profile of this process (hub and edge) written to this file")
	fs.IntVar(&c.brokers, "brokers", 3, "kfake brokers (partition leadership is spread over them; the client compresses each broker's produce requests on that broker's connection)")
	fs.StringVar(&c.codec, "compression", "zstd", "the hub's Kafka compression, as replication.kafka.compression: none, gzip, snappy, lz4, zstd")
	fs.DurationVar(&c.linger, "kafka-linger", -1, "for experiments: kgo.ProducerLinger of the hub's Kafka client (negative: franz-go's default, as the hub has it)")
	fs.BoolVar(&c.warmup, "warmup", true, "one drain into every sink before the measured runs, not counted")
	fs.BoolVar(&c.quick, "quick", false, "smoke run of about 30 s: 3 runs of 250k records")
	set, err := cli.Parse(fs, args)
	if err != nil {
		return c, err
	}
	if c.quick {
		cli.Quick(set, map[string]func(){
			"runs":    func() { c.runs = 3 },
			"records": func() { c.records = 250_000 },
		})
	}
	for s := range strings.SplitSeq(sinks, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allSinks, s) || slices.Contains(c.sinks, s) {
			return c, fmt.Errorf("invalid -sinks %q: want some of %s, each once", sinks, strings.Join(allSinks, ", "))
		}
		c.sinks = append(c.sinks, s)
	}
	return c, c.validate()
}

func (c config) validate() error {
	if err := replwork.ValidateBacklog(c.runs, c.records, c.devices, c.fillBatch); err != nil {
		return err
	}
	switch {
	case c.brokers < 1 || c.brokers > 9:
		return fmt.Errorf("invalid -brokers %d: 1 to 9", c.brokers)
	case codecs[c.codec] == nil:
		return fmt.Errorf("invalid -compression %q: none, gzip, snappy, lz4 or zstd", c.codec)
	}
	return nil
}

func (c config) has(sink string) bool { return slices.Contains(c.sinks, sink) }
