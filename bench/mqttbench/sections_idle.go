package main

import (
	"fmt"
	"io"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

// idleRow is one broker's memory per idle connection over runs.
type idleRow struct {
	Broker      string        `json:"broker"`
	Conns       int           `json:"connections"`
	RSSBefore   figure.Spread `json:"rss_before_bytes"`
	RSSAfter    figure.Spread `json:"rss_after_bytes"`
	PerConn     figure.Spread `json:"rss_bytes_per_conn"`
	HeapPerConn figure.Spread `json:"go_heap_inuse_bytes_per_conn"` // Runs 0: unknown
	ConnectS    figure.Spread `json:"connect_s"`
}

func (r *report) runIdle(out io.Writer) error {
	got := map[string][]idleRun{}
	for round := range r.cfg.runs {
		for _, k := range r.kinds {
			r.step("idle memory run %d/%d on %s: %d connections", round+1, r.cfg.runs, k.Name, r.cfg.conns)
			run, err := idleOnce(r.cfg, k)
			if err != nil {
				return fmt.Errorf("idle connections on %s: %w", k.Name, err)
			}
			got[k.Name] = append(got[k.Name], run)
		}
	}
	for _, k := range r.kinds {
		var before, after, per, heap, secs []float64
		for _, x := range got[k.Name] {
			before, after, per = append(before, float64(x.rss0)), append(after, float64(x.rss1)), append(per, x.perConn())
			secs = append(secs, x.connectTime.Seconds())
			if h := x.heapPerConn(); h >= 0 {
				heap = append(heap, h)
			}
		}
		r.Idle = append(r.Idle, idleRow{Broker: k.Name, Conns: r.cfg.conns, RSSBefore: figure.Of(before), RSSAfter: figure.Of(after),
			PerConn: figure.Of(per), HeapPerConn: figure.Of(heap), ConnectS: figure.Of(secs)})
	}
	r.idleTable().Print(out)
	return nil
}

func (r *report) idleTable() *figure.Table {
	t := &figure.Table{Title: fmt.Sprintf("3. Memory per idle connection at %d connections", r.cfg.conns),
		Header: []string{"broker", "RSS before", "RSS after", "RSS per connection, median (min–max)", "Go heap in use per connection", "connect time"}}
	for _, x := range r.Idle {
		heap := "n/a"
		if x.HeapPerConn.Runs > 0 {
			heap = kb(x.HeapPerConn.Median)
		}
		t.Row(x.Broker, mib(x.RSSBefore.Median), mib(x.RSSAfter.Median),
			fmt.Sprintf("%s (%s–%s)", kb(x.PerConn.Median), kb(x.PerConn.Min), kb(x.PerConn.Max)), heap, fmt.Sprintf("%.1fs", x.ConnectS.Median))
	}
	t.Note("each client: TCP connect, MQTT 3.1.1 CONNECT (clean session, keepalive 300 s), CONNACK, then silence; "+
		"RSS (VmRSS of /proc/PID/status) read %v after the broker started and %v after the last CONNACK", idleSettle, idleSettle)
	t.Note("per connection = (RSS after − RSS before) ÷ connections; 1 KB = 1000 B. Go heap: go_memstats_heap_inuse_bytes from the node's /metrics (Tributary only)")
	for _, v := range r.verdicts() {
		if v.Section == 3 {
			t.Note("%s", v.Line())
		}
	}
	return t
}

func kb(b float64) string { return fmt.Sprintf("%.1f KB", b/1000) }

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
