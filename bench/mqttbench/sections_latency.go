package main

import (
	"fmt"
	"io"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

// latRow is one broker's latency figures over runs.
type latRow struct {
	Broker   string        `json:"broker"`
	Tier     string        `json:"tier"`
	P50Ms    figure.Spread `json:"p50_ms"`
	P99Ms    figure.Spread `json:"p99_ms"`
	P999Ms   figure.Spread `json:"p99_9_ms"`
	MaxMs    figure.Spread `json:"max_ms"`
	SentP99  figure.Spread `json:"p99_from_actual_send_ms"`
	LagP99   figure.Spread `json:"generator_lag_p99_ms"`
	LagMax   figure.Spread `json:"generator_lag_max_ms"`
	Achieved figure.Spread `json:"acked_msgs_per_s"`
	CPUPerM  figure.Spread `json:"broker_cpu_s_per_1m"`
	GenCores figure.Spread `json:"generator_cpu_cores"`
	Samples  int           `json:"samples_per_run"`
}

func (r *report) runLatency(out io.Writer) error {
	got := map[string][]latRun{}
	for round := range r.cfg.runs {
		for _, k := range r.kinds {
			r.step("latency run %d/%d on %s", round+1, r.cfg.runs, k.Name)
			run, err := latencyOnce(r.cfg, k, r.cfg.warmup, r.cfg.latencyDur)
			if err != nil {
				return fmt.Errorf("latency on %s: %w", k.Name, err)
			}
			got[k.Name] = append(got[k.Name], run)
		}
	}
	for _, k := range r.kinds {
		r.Latency = append(r.Latency, summariseLat(k, got[k.Name]))
	}
	r.latencyTable().Print(out)
	return nil
}

func summariseLat(k *brokerKind, runs []latRun) latRow {
	pick := func(f func(latRun) float64) figure.Spread {
		var v []float64
		for _, x := range runs {
			v = append(v, f(x))
		}
		return figure.Of(v)
	}
	return latRow{Broker: k.Name, Tier: k.Tier, Samples: runs[0].samples,
		P50Ms:    pick(func(x latRun) float64 { return figure.Ms(x.p50) }),
		P99Ms:    pick(func(x latRun) float64 { return figure.Ms(x.p99) }),
		P999Ms:   pick(func(x latRun) float64 { return figure.Ms(x.p999) }),
		MaxMs:    pick(func(x latRun) float64 { return figure.Ms(x.max) }),
		SentP99:  pick(func(x latRun) float64 { return figure.Ms(x.sentP99) }),
		LagP99:   pick(func(x latRun) float64 { return figure.Ms(x.lagP99) }),
		LagMax:   pick(func(x latRun) float64 { return figure.Ms(x.lagMax) }),
		Achieved: pick(func(x latRun) float64 { return x.achieved }),
		CPUPerM:  pick(func(x latRun) float64 { return x.brokerCPU.Seconds() / float64(x.samples) * 1e6 }),
		GenCores: pick(func(x latRun) float64 { return x.genCores }),
	}
}

func (r *report) latencyTable() *figure.Table {
	c := r.cfg
	t := &figure.Table{Title: fmt.Sprintf("2. PUBLISH → PUBACK latency at %d msg/s offered, open loop, QoS 1 (%d publishers × %d msg/s, %v measured per run)",
		c.rate, c.latPublishers, c.rate/c.latPublishers, c.latencyDur),
		Header: []string{"broker", "p50", "p99", "p99.9", "max", "p99 from actual send", "generator lag p99", "acked msg/s", "CPU-s/1M", "tier"}}
	for _, x := range r.Latency {
		t.Row(x.Broker, figure.MsSpread(x.P50Ms), figure.MsSpread(x.P99Ms), figure.MsStr(x.P999Ms.Median), figure.MsStr(x.MaxMs.Median),
			figure.MsStr(x.SentP99.Median), figure.MsStr(x.LagP99.Median), figure.Rate(x.Achieved.Median), fmt.Sprintf("%.2f", x.CPUPerM.Median), x.Tier)
	}
	t.Note("latency = PUBACK arrival − the PUBLISH's scheduled send time, so a late generator or a stalled broker counts in full; " +
		"publishers' schedules are staggered evenly; each sends whether or not its earlier PUBLISHes were acked")
	t.Note("percentiles are exact, from every acked message scheduled after the %v warm-up (%d per run); p50 and p99 show median (min–max) over runs",
		c.warmup, r.Latency[0].Samples)
	t.Note("\"p99 from actual send\" leaves out the generator's lateness; generator lag = actual − scheduled send time")
	for _, v := range r.verdicts() {
		if v.Section == 2 {
			t.Note("%s", v.Line())
		}
	}
	return t
}
