package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/tributary-io/tributary/bench/internal/figure"
	benchproc "github.com/tributary-io/tributary/bench/internal/proc"
	"github.com/tributary-io/tributary/bench/internal/replwork"
)

const perMillion = 1e6

// report holds the settings and every result.
type report struct {
	cfg      config
	progress io.Writer
	began    time.Time
	workDir  string
	template string // the filled edge spool
	want     fingerprint

	Settings settings   `json:"settings"`
	Runs     []drainRun `json:"runs"`
	Warmup   []drainRun `json:"warmup,omitempty"`
	ElapsedS float64    `json:"elapsed_s"`
}

type settings struct {
	replwork.Machine
	Tributary string `json:"tributary"`
	FranzGo   string `json:"franz_go"`
	Kfake     string `json:"kfake"`
	replwork.Backlog
	Digest    fingerprint `json:"workload_digest"`
	LoadStart string      `json:"loadavg_start"`
	LoadEnd   string      `json:"loadavg_end"`
}

func (r *report) step(format string, args ...any) {
	replwork.Step(r.progress, r.began, format, args...)
}

// prepare generates the workload and fills the edge spool template once
// (each run copies it); the records are then dropped, all but their digest.
func (r *report) prepare(args []string) error {
	r.began = time.Now()
	c := r.cfg
	var err error
	if r.workDir, err = os.MkdirTemp(c.dir, "kafkabench-"); err != nil {
		return err
	}
	r.Settings = settings{Machine: replwork.NewMachine("kafkabench", args, r.workDir), LoadStart: replwork.LoadAvg(), Tributary: "this tree"}
	if root, err := benchproc.ModuleRoot("kafkabench"); err == nil {
		r.Settings.Tributary = replwork.TreeVersion(root)
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/twmb/franz-go":
				r.Settings.FranzGo = d.Version
			case "github.com/twmb/franz-go/pkg/kfake":
				r.Settings.Kfake = d.Version
			}
		}
	}
	recs := replwork.Workload(c.records, c.devices)
	for _, rec := range recs {
		r.want.add(rec.Key, rec.Value, rec.Time)
	}
	r.Settings.Digest = r.want
	r.Settings.Describe(recs)
	r.template = filepath.Join(r.workDir, "template")
	r.step("filling the edge spool template with %d records", c.records)
	if err := r.Settings.Fill(r.template, recs, c.fillBatch); err != nil {
		return err
	}
	runtime.GC() // the records are garbage now: the runs start with a small heap
	return nil
}

// measure runs the sinks round by round, so that drift on the shared
// machine falls on every sink alike.
func (r *report) measure() error {
	c := r.cfg
	rounds := c.runs
	if c.warmup {
		rounds++
	}
	for i := range rounds {
		warm := c.warmup && i == 0
		for _, sink := range c.sinks {
			runDir, err := os.MkdirTemp(r.workDir, "run-")
			if err != nil {
				return err
			}
			what := fmt.Sprintf("run %d/%d", i+1-btoi(c.warmup), c.runs)
			if warm {
				what = "warm-up"
			}
			r.step("%s: drain of %d records into %s", what, c.records, sinkName(sink))
			runtime.GC() // every drain starts from the same small heap
			d, err := r.drain(sink, runDir, "")
			if err != nil {
				return fmt.Errorf("drain into %s: %w", sink, err)
			}
			r.step("  %.0f records/s, %.2f CPU-s/1M hub+edge, %.2f kfake; %s", d.Rate, d.HubCPU/float64(d.Records)*perMillion, d.KafkaCPU/float64(d.Records)*perMillion, d.Verified)
			if warm {
				r.Warmup = append(r.Warmup, d)
			} else {
				r.Runs = append(r.Runs, d)
			}
			if err := os.RemoveAll(runDir); err != nil {
				return err
			}
		}
	}
	if c.profile != "" {
		runDir, err := os.MkdirTemp(r.workDir, "profile-")
		if err != nil {
			return err
		}
		r.step("extra drain into %s with a CPU profile (not counted): %s", sinkName(c.sinks[0]), c.profile)
		if _, err := r.drain(c.sinks[0], runDir, c.profile); err != nil {
			return fmt.Errorf("drain under the profiler: %w", err)
		}
	}
	r.ElapsedS = time.Since(r.began).Seconds()
	r.Settings.LoadEnd = replwork.LoadAvg()
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func sinkName(sink string) string {
	switch sink {
	case sinkSpool:
		return "hub spool"
	case sinkKafka:
		return "Kafka (kfake, memory)"
	}
	return "Kafka (kfake, fsync)"
}

func sinkTier(sink string) string {
	switch sink {
	case sinkSpool:
		return "fsync before ack"
	case sinkKafka:
		return "memory only"
	}
	return "fsync before ack"
}

func (r *report) printSettings(w io.Writer) {
	s, c := r.Settings, r.cfg
	fmt.Fprintf(w, "kafkabench %s\n", s.Command)
	fmt.Fprintf(w, "date       %s\n", s.Date)
	fmt.Fprintf(w, "platform   %s %s, NumCPU %d; not pinned: hub, edge and kfake share the cores\n", s.GoVersion, s.Platform, s.NumCPU)
	fmt.Fprintf(w, "machine    shared: other work may run on it concurrently; load average at the start %s\n", s.LoadStart)
	fmt.Fprintf(w, "dir        %s\n", s.Filesystem)
	fmt.Fprintf(w, "tributary  %s; franz-go %s, kfake %s\n", s.Tributary, s.FranzGo, s.Kfake)
	s.PrintWorkload(w, c.records, c.devices)
	fmt.Fprintf(w, "edge       stream telemetry, 8 partitions, zstd; filled before each run's edge starts (spool.Append of %d records a call, %.1f s, %.1f MB stored, %.1f B/record); forwarder defaults (window 32 batches, 8 MiB)\n",
		c.fillBatch, s.FillSeconds, float64(s.StoredBytes)/1e6, float64(s.StoredBytes)/float64(c.records))
	fmt.Fprintln(w, "hub        cluster.New on a plaintext gRPC server on loopback, in this process with the edge; MaxTxnBytes 4 MiB, Pipeline 64 (the defaults a hub gets)")
	for _, sink := range c.sinks {
		switch sink {
		case sinkSpool:
			fmt.Fprintln(w, "  spool    the hub's own spool (spool.Options{}: zstd, linger 2ms), stream telemetry of 8 partitions; tier: fsync before ack")
		case sinkKafka:
			fmt.Fprintf(w, "  kafka    Options.Kafka as replication.kafka's defaults make it: transactions (transactional id per site), compression %s%s, client_id tributary-hub, timeout 30s; create_topics, 8 partitions\n", c.codec, notDefault(c.codec != "zstd"))
			if c.linger >= 0 {
				fmt.Fprintf(w, "           kgo.ProducerLinger(%s) added to the hub's Kafka client: not what a hub has\n", c.linger)
			}
			fmt.Fprintf(w, "           broker: kfake (franz-go's fake Kafka), %d brokers in one child process on this machine, in memory, no replication; tier: memory only\n", c.brokers)
		case sinkKafkaSync:
			fmt.Fprintln(w, "  kafka-fsync  the same hub and client; kfake with DataDir and SyncWrites: it fsyncs a partition's segment and index after each batch it appends (records and transaction markers), before it answers; tier: fsync before ack")
		}
	}
	warm := "no warm-up"
	if c.warmup {
		warm = "after one warm-up drain into each sink (not counted)"
	}
	fmt.Fprintf(w, "runs       %d per sink (median, min–max), %s; sinks interleaved round by round; each run on a fresh hub (and kfake) and a fresh copy of the edge spool\n", c.runs, warm)
}

func notDefault(b bool) string {
	if b {
		return " (not the default: zstd)"
	}
	return ""
}

func (r *report) runsOf(sink string) []drainRun {
	var out []drainRun
	for _, d := range r.Runs {
		if d.Sink == sink {
			out = append(out, d)
		}
	}
	return out
}

func spreadOf(runs []drainRun, f func(drainRun) float64) figure.Spread {
	v := make([]float64, len(runs))
	for i, x := range runs {
		v[i] = f(x)
	}
	return figure.Of(v)
}

func (r *report) printResults(w io.Writer) {
	c := r.cfg
	n := float64(c.records)
	hdr := []string{"figure"}
	for _, s := range c.sinks {
		hdr = append(hdr, sinkName(s))
	}
	var peers []string
	if c.has(sinkSpool) {
		for _, s := range c.sinks {
			if s != sinkSpool {
				peers = append(peers, s)
				hdr = append(hdr, sinkName(s)+" ÷ spool")
			}
		}
	}
	t := &figure.Table{Title: fmt.Sprintf("Draining %d records edge → hub, by the hub's sink", c.records), Header: hdr}
	kafkaOnly := false // the row means nothing for the spool sink
	row := func(name string, f func(drainRun) float64, format string, ratio bool) {
		cells := []string{name}
		for _, s := range c.sinks {
			if kafkaOnly && s == sinkSpool {
				cells = append(cells, "")
				continue
			}
			sp := spreadOf(r.runsOf(s), f)
			if format == "rate" {
				cells = append(cells, figure.RateSpread(sp))
			} else {
				cells = append(cells, figure.NumSpread(sp, format))
			}
		}
		for _, p := range peers {
			if !ratio {
				cells = append(cells, "")
				continue
			}
			cells = append(cells, figure.Ratio(spreadOf(r.runsOf(p), f).Median, spreadOf(r.runsOf(sinkSpool), f).Median))
		}
		t.Row(cells...)
	}
	row("records/s", func(d drainRun) float64 { return d.Rate }, "rate", true)
	if len(peers) > 0 { // each round's ratio: its two drains ran seconds apart
		cells := []string{"÷ spool, round by round"}
		for range c.sinks {
			cells = append(cells, "")
		}
		spool := r.runsOf(sinkSpool)
		for _, p := range peers {
			var q []float64
			for i, d := range r.runsOf(p) {
				q = append(q, d.Rate/spool[i].Rate)
			}
			s := figure.Of(q)
			cells = append(cells, fmt.Sprintf("%.2f× (%.2f–%.2f)", s.Median, s.Min, s.Max))
		}
		t.Row(cells...)
	}
	row("seconds", func(d drainRun) float64 { return d.Seconds }, "%.2f", true)
	row("session open, s", func(d drainRun) float64 { return d.OpenSeconds }, "%.3f", false)
	row("CPU-s/1M hub + edge", func(d drainRun) float64 { return d.HubCPU / n * perMillion }, "%.2f", true)
	kafkaOnly = true
	row("CPU-s/1M kfake", func(d drainRun) float64 { return d.KafkaCPU / n * perMillion }, "%.2f", false)
	kafkaOnly = false
	row("CPU-s/1M all", func(d drainRun) float64 { return (d.HubCPU + d.KafkaCPU) / n * perMillion }, "%.2f", true)
	row("CPU cores busy (all)", func(d drainRun) float64 { return (d.HubCPU + d.KafkaCPU) / d.Seconds }, "%.2f", false)
	row("batches committed", func(d drainRun) float64 { return d.Batches }, "%.0f", false)
	row("hub commit, mean ms", func(d drainRun) float64 { return d.CommitMs }, "%.1f", true)
	kafkaOnly = true
	if c.has(sinkKafka) || c.has(sinkKafkaSync) {
		row("Kafka transactions", func(d drainRun) float64 {
			if d.Broker == nil {
				return 0
			}
			return float64(d.Broker.EndTxns)
		}, "%.0f", false)
		row("Kafka B/record written", func(d drainRun) float64 { return float64(d.ProduceWire) / n }, "%.1f", false)
		row("Kafka produce requests", func(d drainRun) float64 {
			if d.Broker == nil {
				return 0
			}
			return float64(d.Broker.ProduceRequests)
		}, "%.0f", false)
	}
	tier := []string{"tier"}
	for _, s := range c.sinks {
		tier = append(tier, sinkTier(s))
	}
	t.Row(tier...)
	t.Note("records/s = records ÷ seconds from the forwarder's start (dial and Hello included: the 'session open' row) until its metric counts every record acknowledged; the hub acks a batch once its commit is durable in its sink (spool: committed and fsynced; Kafka: the transaction holding the records and the checkpoint committed)")
	t.Note("÷ spool: the ratio of the medians; round by round: the median (min–max) of each round's own ratio, whose drains ran within seconds of each other")
	t.Note("CPU: user+system of this process (hub and edge, which run in it) and of the kfake process, over the same span; a real Kafka's CPU would be on other machines, so 'hub + edge' is the hub's own cost")
	t.Note("'hub commit' is the hub's tributary_hub_commit_seconds: a batch's arrival to its durable commit; 'Kafka transactions' counts EndTxn requests (the session's fence included), 'produce requests' the broker's Produce requests; 'B/record written' is the bytes of the hub's Produce requests (a kgo hook) per record: batches as compressed, with Kafka's framing, each record with its five tributary.* headers (the edge stored %.1f B/record)", float64(r.Settings.StoredBytes)/n)
	for _, s := range c.sinks {
		if runs := r.runsOf(s); len(runs) > 0 {
			t.Note("%s, checked after every run: the hub's checkpoints add up to %d; %s", sinkName(s), c.records, runs[len(runs)-1].Verified)
		}
	}
	t.Note("not pinned, on a shared 2-core machine: hub, edge and kfake compete for the same cores (a real Kafka runs elsewhere); read the ratios, measured in the same minutes, before the absolute figures")
	t.Note("elapsed %.0fs; load average at the end %s (at the start %s)", r.ElapsedS, r.Settings.LoadEnd, r.Settings.LoadStart)
	t.Print(w)
}
