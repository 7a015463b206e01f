package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/bench/internal/figure"
	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/forwarder"
	"github.com/tributary-io/tributary/spool"
)

// Section 3 runs in this process: a hub (cluster on a plaintext gRPC
// server over its own spool) and an edge (spool + forwarder), as
// forwarder/harness_test.go sets them up, with default options. Both
// spools fsync before they ack. A record's event time carries its sequence
// number (start + seq ns), so that the hub side can tell which record it
// sees.

// latRun is one run of section 3.
type latRun struct {
	Records   int     `json:"records"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	P999Ms    float64 `json:"p999_ms"`
	MaxMs     float64 `json:"max_ms"`
	AckP99Ms  float64 `json:"append_ack_p99_ms"` // scheduled → edge ack
	LagP99Ms  float64 `json:"generator_lag_p99_ms"`
	CPUCores  float64 `json:"process_cpu_cores"`
	Missing   int     `json:"missing"`
	WireBytes float64 `json:"wire_bytes_per_record"`
}

type latHub struct {
	sp  *spool.Spool
	gs  *grpc.Server
	srv *cluster.Server
	rl  *relay
}

func startLatHub(dir string) (*latHub, error) {
	sp, err := spool.Open(filepath.Join(dir, "hub"), spool.Options{})
	if err != nil {
		return nil, err
	}
	if err := sp.EnsureStream(edgeStream); err != nil {
		sp.Close()
		return nil, err
	}
	srv, err := cluster.New(cluster.Options{Spool: sp, AllowAnonymous: true})
	if err != nil {
		sp.Close()
		return nil, err
	}
	gs := grpc.NewServer()
	tributaryv1.RegisterReplicationServiceServer(gs, srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		sp.Close()
		return nil, err
	}
	go func() { _ = gs.Serve(ln) }()
	rl, err := startRelay(ln.Addr().String())
	if err != nil {
		gs.Stop()
		srv.Close()
		sp.Close()
		return nil, err
	}
	return &latHub{sp: sp, gs: gs, srv: srv, rl: rl}, nil
}

func (h *latHub) close() error {
	h.rl.close()
	h.gs.Stop()
	h.srv.Close()
	return h.sp.Close()
}

// watch reads every record the hub commits and stores its commit time by
// sequence number, until ctx ends.
func (h *latHub) watch(ctx context.Context, base int64, commitAt []atomic.Int64) error {
	next := make([]uint64, edgeStream.Partitions)
	for {
		ch := h.sp.Changed()
		for p := range next {
			_, head, err := h.sp.Offsets(edgeStream.Name, p)
			if err != nil {
				return err
			}
			for next[p] < head {
				es, err := h.sp.Read(edgeStream.Name, p, next[p], 1<<20)
				if err != nil {
					return err
				}
				now := time.Now().UnixNano()
				for _, e := range es {
					recs, err := e.Records()
					if err != nil {
						return err
					}
					for i, rec := range recs {
						if e.Offset()+uint64(i) < next[p] {
							continue
						}
						if seq := rec.Time.UnixNano() - base; seq >= 0 && seq < int64(len(commitAt)) {
							commitAt[seq].CompareAndSwap(0, now)
						}
					}
					next[p] = e.NextOffset()
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
		}
	}
}

// latencyRun offers rate records/s to the edge spool, group records per
// AppendAsync on a fixed schedule, and measures each record from its
// Append's ack to the hub's commit.
func (r *report) latencyRun(dir string) (latRun, error) {
	var res latRun
	c := r.cfg
	hub, err := startLatHub(dir)
	if err != nil {
		return res, err
	}
	defer func() { _ = hub.close() }()
	edge, err := spool.Open(filepath.Join(dir, "edge"), spool.Options{})
	if err != nil {
		return res, err
	}
	defer func() { _ = edge.Close() }()
	if err := edge.EnsureStream(edgeStream); err != nil {
		return res, err
	}
	fwd, err := forwarder.New(forwarder.Options{Spool: edge, Site: "plant-01", Addr: hub.rl.addr()})
	if err != nil {
		return res, err
	}
	fctx, stopFwd := context.WithCancel(context.Background())
	fdone := make(chan error, 1)
	go func() { fdone <- fwd.Run(fctx) }()
	defer func() {
		stopFwd()
		if err := errors.Join(<-fdone, fwd.Close()); err != nil {
			r.step("forwarder shutdown: %v", err) // after the figures: reported, not fatal
		}
	}()

	total := int((c.warmup + c.latDur).Seconds() * float64(c.rate))
	total -= total % c.group
	warm := int(c.warmup.Seconds() * float64(c.rate))
	ackAt := make([]atomic.Int64, total)
	commitAt := make([]atomic.Int64, total)
	sched := make([]int64, total)
	sent := make([]int64, total)
	base := time.Now().UnixNano()
	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	wdone := make(chan error, 1)
	go func() { wdone <- hub.watch(wctx, base, commitAt) }()

	interval := time.Duration(int64(time.Second) * int64(c.group) / int64(c.rate))
	var cpu0, cpu1 syscall.Rusage
	start := time.Now().Add(50 * time.Millisecond)
	for g := 0; g*c.group < total; g++ {
		if g*c.group == warm {
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &cpu0)
			hub.rl.reset()
		}
		at := start.Add(time.Duration(g) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		first := g * c.group
		recs := make([]spool.Record, c.group)
		now := time.Now().UnixNano()
		for i := range recs {
			w := r.recs[(first+i)%len(r.recs)]
			recs[i] = spool.Record{Key: []byte(w.device), Value: w.value, Time: time.Unix(0, base+int64(first+i))}
			sched[first+i], sent[first+i] = at.UnixNano(), now
		}
		err := edge.AppendAsync(context.Background(), edgeStream.Name, recs, func(res spool.Result) {
			t := time.Now().UnixNano()
			for i := range recs {
				ackAt[first+i].Store(t)
			}
		})
		if err != nil {
			return res, fmt.Errorf("append: %w", err)
		}
	}
	// Wait for the hub to commit the last record (at most 30 s).
	deadline := time.Now().Add(30 * time.Second)
	for commitAt[total-1].Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &cpu1)
	wall := time.Since(start.Add(c.warmup))
	stopWatch()
	if err := <-wdone; err != nil {
		return res, err
	}
	var lat, ack, lag []time.Duration
	for i := warm; i < total; i++ {
		a, h := ackAt[i].Load(), commitAt[i].Load()
		if a == 0 || h == 0 {
			res.Missing++
			continue
		}
		lat = append(lat, time.Duration(max(h-a, 0)))
		ack = append(ack, time.Duration(a-sched[i]))
		lag = append(lag, time.Duration(sent[i]-sched[i]))
	}
	for _, s := range [][]time.Duration{lat, ack, lag} {
		slices.Sort(s)
	}
	res.Records = len(lat)
	res.P50Ms, res.P99Ms = figure.Ms(figure.Percentile(lat, 0.50)), figure.Ms(figure.Percentile(lat, 0.99))
	res.P999Ms, res.MaxMs = figure.Ms(figure.Percentile(lat, 0.999)), figure.Ms(figure.Percentile(lat, 1))
	res.AckP99Ms, res.LagP99Ms = figure.Ms(figure.Percentile(ack, 0.99)), figure.Ms(figure.Percentile(lag, 0.99))
	res.CPUCores = (tvSec(cpu1.Utime) + tvSec(cpu1.Stime) - tvSec(cpu0.Utime) - tvSec(cpu0.Stime)) / wall.Seconds()
	res.WireBytes = float64(hub.rl.up.Load()) / float64(total-warm)
	return res, nil
}

func tvSec(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
