package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

// The targets for MQTT ingest on the edge node.
const (
	targetQoS0      = 100_000 // msg/s durably spooled, QoS 0, 100 publishers
	targetQoS1      = 50_000  // msg/s, QoS 1, 100 publishers
	targetQoS1One   = 20_000  // msg/s, QoS 1, one connection
	targetVsMosq    = 1.0     // Tributary ÷ Mosquitto, every throughput case
	targetP99Ms     = 5.0     // at the fixed load
	targetIdleBytes = 15_000  // RSS per idle connection (15 KB, 1 KB = 1000 B)
)

// verdicts judges every target whose figures were measured.
func (r *report) verdicts() []figure.Verdict {
	if r.tributary() == nil {
		return nil
	}
	var out []figure.Verdict
	rateTarget := func(tc tpCase, target float64, what string) {
		if row := r.tpRowOf(tc, "Tributary"); row != nil {
			v := row.Rate.Median
			out = append(out, figure.Judge(1, fmt.Sprintf("%s ≥ %s", what, figure.Rate(target)), v, true, v >= target, figure.Rate(v)))
		}
	}
	rateTarget(tpCase{QoS: 0, Publishers: 100}, targetQoS0, "QoS 0 × 100 publishers, durably spooled,")
	rateTarget(tpCase{QoS: 1, Publishers: 100}, targetQoS1, "QoS 1 × 100 publishers")
	rateTarget(tpCase{QoS: 1, Publishers: 1}, targetQoS1One, "QoS 1 × 1 connection")
	if v, ok := r.vsMosquitto(); ok {
		out = append(out, v)
	}
	for _, x := range r.Latency {
		if x.Broker == "Tributary" {
			out = append(out, figure.Judge(2, fmt.Sprintf("p99 ≤ %.0f ms at %d msg/s", targetP99Ms, r.cfg.rate), x.P99Ms.Median, true,
				x.P99Ms.Median <= targetP99Ms, "p99 "+figure.MsStr(x.P99Ms.Median)))
		}
	}
	for _, x := range r.Idle {
		if x.Broker == "Tributary" {
			v := x.PerConn.Median
			out = append(out, figure.Judge(3, fmt.Sprintf("≤ %s per idle connection at %d connections", kb(targetIdleBytes), x.Conns), v, true,
				v <= targetIdleBytes, kb(v)+" RSS"))
		}
	}
	return out
}

// vsMosquitto judges Tributary ÷ Mosquitto over every throughput case: the
// lowest ratio, and the cases below the target.
func (r *report) vsMosquitto() (figure.Verdict, bool) {
	lowest, ok := 0.0, false
	var below []string
	for _, x := range r.Throughput {
		if x.Broker != "Tributary" {
			continue
		}
		m := r.tpRowOf(x.tpCase, "Mosquitto")
		if m == nil || m.Rate.Median <= 0 {
			continue
		}
		q := x.Rate.Median / m.Rate.Median
		if !ok || q < lowest {
			lowest = q
		}
		ok = true
		if q < targetVsMosq {
			below = append(below, fmt.Sprintf("%s %.2f×", x.tpCase, q))
		}
	}
	if !ok {
		return figure.Verdict{}, false
	}
	res := fmt.Sprintf("lowest %.2f×, every case at or above", lowest)
	if len(below) > 0 {
		res = "below in " + strings.Join(below, ", ")
	}
	return figure.Judge(1, fmt.Sprintf("throughput ≥ %.1f× Mosquitto's, every case, same run", targetVsMosq), lowest, true, len(below) == 0, res), true
}

// printSummary prints every target with its status.
func (r *report) printSummary(w io.Writer) {
	t := &figure.Table{Title: "Targets", Header: []string{"section", "target", "result", "status"}}
	for _, v := range r.Verdicts {
		t.Row(fmt.Sprint(v.Section), v.Target, v.Result, v.Status)
	}
	t.Note("elapsed %.0fs; load average at the end %s (at the start %s)", r.ElapsedS, r.Settings.LoadEnd, r.Settings.LoadStart)
	t.Print(w)
}
