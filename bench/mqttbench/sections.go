package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

// tpRow is one case on one broker over runs.
type tpRow struct {
	tpCase
	Broker      string        `json:"broker"`
	Rate        figure.Spread `json:"msgs_per_s"`
	CPUPerM     figure.Spread `json:"broker_cpu_s_per_1m"`
	BrokerCores figure.Spread `json:"broker_cpu_cores"`
	GenCores    figure.Spread `json:"generator_cpu_cores"`
	Stored      string        `json:"stored,omitempty"` // Tributary: what the spool counted
}

// runThroughput measures every case on every broker, round by round, the
// brokers one after another within a case, so that drift on a shared
// machine falls on all of them alike.
func (r *report) runThroughput(out io.Writer) error {
	var cases []tpCase
	for _, q := range r.cfg.qos {
		for _, p := range r.cfg.publishers {
			cases = append(cases, tpCase{QoS: q, Publishers: p})
		}
	}
	got := map[string][]tpRun{}
	key := func(tc tpCase, k *brokerKind) string { return tc.String() + "/" + k.Name }
	for round := range r.cfg.runs {
		for _, tc := range cases {
			for _, k := range r.kinds {
				r.step("throughput run %d/%d: %s on %s", round+1, r.cfg.runs, tc, k.Name)
				run, err := tpOnce(r.cfg, k, tc, r.cfg.warmup, r.cfg.duration, nil)
				if err != nil {
					return fmt.Errorf("%s on %s: %w", tc, k.Name, err)
				}
				got[key(tc, k)] = append(got[key(tc, k)], run)
			}
		}
	}
	for _, tc := range cases {
		for _, k := range r.kinds {
			r.Throughput = append(r.Throughput, summariseTP(tc, k, got[key(tc, k)]))
		}
	}
	r.rateTable(cases).Print(out)
	r.cpuTable(cases).Print(out)
	return nil
}

func summariseTP(tc tpCase, k *brokerKind, runs []tpRun) tpRow {
	var rate, cpu, bc, gc []float64
	var stored, onDisk, sent, msgs int64
	for _, x := range runs {
		s := x.elapsed.Seconds()
		rate, cpu = append(rate, x.rate()), append(cpu, x.brokerCPU.Seconds()/float64(x.msgs)*1e6)
		bc, gc = append(bc, x.brokerCPU.Seconds()/s), append(gc, x.genCPU.Seconds()/s)
		stored, onDisk, sent, msgs = stored+x.stored, onDisk+x.onDisk, sent+x.sentTotal, msgs+x.msgs
	}
	row := tpRow{tpCase: tc, Broker: k.Name, Rate: figure.Of(rate), CPUPerM: figure.Of(cpu), BrokerCores: figure.Of(bc), GenCores: figure.Of(gc)}
	if len(runs) > 0 && runs[0].onDisk >= 0 {
		row.Stored = fmt.Sprintf("spool metric counted %d of %d measured messages; spool stat after stop: %d of %d sent (all runs)",
			stored, msgs, onDisk, sent)
	}
	return row
}

// tpRowOf finds a case's row for a broker.
func (r *report) tpRowOf(tc tpCase, broker string) *tpRow {
	for i := range r.Throughput {
		if x := &r.Throughput[i]; x.tpCase == tc && x.Broker == broker {
			return x
		}
	}
	return nil
}

// peers are the brokers other than Tributary, when Tributary was measured.
func (r *report) peers() []*brokerKind {
	if len(r.kinds) == 0 || r.kinds[0].Name != "Tributary" {
		return nil
	}
	return r.kinds[1:]
}

func (r *report) header(first string, unit string) []string {
	h := []string{first}
	for _, k := range r.kinds {
		h = append(h, k.Name+" "+unit)
	}
	for _, p := range r.peers() {
		h = append(h, "Tributary/"+p.Name)
	}
	return h
}

func (r *report) rateTable(cases []tpCase) *figure.Table {
	t := &figure.Table{Title: fmt.Sprintf("1. Fan-in throughput, closed loop (%v measured per run), msg/s: median (min–max)", r.cfg.duration),
		Header: append(r.header("case", "msg/s"), "generator CPU cores")}
	for _, tc := range cases {
		cells := []string{tc.String()}
		var gen float64
		for _, k := range r.kinds {
			row := r.tpRowOf(tc, k.Name)
			cells = append(cells, figure.RateSpread(row.Rate))
			gen = max(gen, row.GenCores.Median)
		}
		cells = append(cells, r.ratios(tc, func(x *tpRow) float64 { return x.Rate.Median })...)
		t.Row(append(cells, fmt.Sprintf("%.2f", gen))...)
	}
	t.Note("case: QoS, publishers (each its own TCP connection); QoS 1 with up to %d PUBLISHes in flight per publisher", r.cfg.window)
	t.Note("msg/s = messages the broker took ÷ time from the phase's start until the broker had acked the last of them; at QoS 0 a last " +
		"QoS 1 PUBLISH on each connection fences the phase: its PUBACK comes after everything before it was handled")
	for _, k := range r.kinds {
		t.Note("%s: %s", k.Name, tierMeaning(k))
	}
	if k := r.tributary(); k != nil {
		for _, tc := range cases {
			if row := r.tpRowOf(tc, k.Name); row.Stored != "" {
				t.Note("Tributary %s: %s", tc, row.Stored)
			}
		}
	}
	t.Note("generator CPU cores: the load generator's CPU time ÷ wall time (highest over the brokers); near 1.00 with -pin it may be the bottleneck")
	for _, v := range r.verdicts() {
		if v.Section == 1 {
			t.Note("%s", v.Line())
		}
	}
	return t
}

func tierMeaning(k *brokerKind) string {
	if k.Tier == tierFsync {
		return "durably spooled (" + tierFsync + "): a PUBACK, and the QoS 0 fence's, goes out only once the record and every earlier one of its connection is fsynced"
	}
	return "received and handled (" + k.Tier + ")"
}

func (r *report) cpuTable(cases []tpCase) *figure.Table {
	t := &figure.Table{Title: "1b. Broker CPU-seconds per million messages (same runs), median",
		Header: append(r.header("case", "CPU-s/1M"), "broker cores busy (T / peers)")}
	for _, tc := range cases {
		cells := []string{tc.String()}
		var cores []string
		for _, k := range r.kinds {
			row := r.tpRowOf(tc, k.Name)
			cells = append(cells, fmt.Sprintf("%.2f", row.CPUPerM.Median))
			cores = append(cores, fmt.Sprintf("%.2f", row.BrokerCores.Median))
		}
		cells = append(cells, r.ratios(tc, func(x *tpRow) float64 { return x.CPUPerM.Median })...)
		t.Row(append(cells, strings.Join(cores, " / "))...)
	}
	t.Note("user + system CPU time of the broker process (/proc/PID/stat, 10 ms ticks) over the measured phase ÷ messages × 1M; lower is better")
	return t
}

// ratios are Tributary's figure over each peer's for a case.
func (r *report) ratios(tc tpCase, f func(*tpRow) float64) []string {
	var out []string
	for _, p := range r.peers() {
		out = append(out, figure.Ratio(f(r.tpRowOf(tc, "Tributary")), f(r.tpRowOf(tc, p.Name))))
	}
	return out
}

func (r *report) tributary() *brokerKind {
	if len(r.kinds) > 0 && r.kinds[0].Name == "Tributary" {
		return r.kinds[0]
	}
	return nil
}
