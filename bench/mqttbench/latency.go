package main

import (
	"errors"
	"fmt"
	"github.com/tributary-io/tributary/bench/internal/proc"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

// Section 2: PUBLISH → PUBACK latency at a fixed offered load, open loop.
// Each of -latency-publishers publishers sends one QoS 1 PUBLISH every
// publishers/rate seconds, their schedules evenly staggered, whether or
// not earlier ones were acked. A message's latency is its PUBACK's arrival
// minus its *scheduled* send time, so a stall of the broker or of the
// generator counts in full (no coordinated omission). Percentiles are
// exact, from every sample of the measured part of a run.

// latIDs is how many packet ids a latency publisher cycles through: the
// most it may have in flight (40 s of its schedule at 100 msg/s).
const latIDs = 4095

type latRun struct {
	p50, p99, p999, max time.Duration
	sentP99             time.Duration // p99 of ack − actual send
	lagP99, lagMax      time.Duration // how late the generator sent
	samples             int
	achieved            float64 // acked messages per second of schedule
	brokerCPU           time.Duration
	genCores            float64
}

// latConn is one open-loop publisher's schedule and samples. sched and
// sent hold, per packet id, the scheduled and actual send times in ns
// since the run's base; the reader turns an ack into samples.
type latConn struct {
	p        *pubConn
	sched    [latIDs + 1]atomic.Int64
	sent     [latIDs + 1]atomic.Int64
	inflight atomic.Int64
	lat, svc []time.Duration // reader-owned until the run ends
	lags     []time.Duration // writer-owned
}

type latLoad struct {
	conns     []*latConn
	base      time.Time
	warmNs    int64 // samples scheduled before base+warm are not counted
	period    time.Duration
	perConn   int // messages each publisher sends, warm-up included
	warmCount int
}

func latencyOnce(c config, kind *brokerKind, warm, d time.Duration) (latRun, error) {
	var r latRun
	err := withBroker(c, kind, func(b *broker) error {
		l := &latLoad{period: time.Duration(c.latPublishers) * time.Second / time.Duration(c.rate)}
		l.perConn = int((warm + d) / l.period)
		l.warmCount = int(warm / l.period)
		l.conns = make([]*latConn, c.latPublishers)
		for i := range l.conns {
			l.conns[i] = &latConn{}
		}
		ps, err := connectAll(b.addr, c.latPublishers, "lat", func(i int, _ *pubConn) func(uint16) {
			lc := l.conns[i]
			return func(id uint16) { lc.ack(l, id) }
		})
		if err != nil {
			return err
		}
		defer closeAll(ps)
		for i, p := range ps {
			l.conns[i].p = p
		}
		b0, err := proc.CPU(b.pid())
		if err != nil {
			return err
		}
		g0, err := proc.CPU(0)
		if err != nil {
			return err
		}
		if err := l.run(warm); err != nil {
			return err
		}
		b1, err := proc.CPU(b.pid())
		if err != nil {
			return err
		}
		g1, err := proc.CPU(0)
		if err != nil {
			return err
		}
		r = l.result(d)
		r.brokerCPU = b1 - b0
		r.genCores = (g1 - g0).Seconds() / (warm + d).Seconds()
		return nil
	})
	return r, err
}

// run starts every publisher's schedule and waits for the last acks.
func (l *latLoad) run(warm time.Duration) error {
	l.base = time.Now().Add(20 * time.Millisecond)
	l.warmNs = int64(warm)
	errs := make([]error, len(l.conns))
	var wg sync.WaitGroup
	for i, lc := range l.conns {
		offset := l.period * time.Duration(i) / time.Duration(len(l.conns))
		wg.Go(func() { errs[i] = lc.send(l, offset) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	deadline := time.Now().Add(waitTimeout)
	for _, lc := range l.conns {
		for lc.inflight.Load() > 0 {
			if time.Now().After(deadline) {
				return fmt.Errorf("latency run: %d publishes not acked %v after the schedule ended", lc.inflight.Load(), waitTimeout)
			}
			select {
			case <-lc.p.dead:
				return lc.p.failure()
			case <-time.After(time.Millisecond):
			}
		}
	}
	return nil
}

// send publishes on schedule: message k at base + offset + k × period.
func (lc *latConn) send(l *latLoad, offset time.Duration) error {
	p := lc.p
	for k := range l.perConn {
		at := offset + time.Duration(k)*l.period
		if wait := time.Until(l.base.Add(at)); wait > 0 {
			time.Sleep(wait)
		}
		if lc.inflight.Load() >= latIDs {
			return fmt.Errorf("publisher %s: %d publishes in flight: the broker has stalled", p.c.LocalAddr(), latIDs)
		}
		id := uint16(k%latIDs + 1)
		now := time.Since(l.base)
		lc.sched[id].Store(int64(at))
		lc.sent[id].Store(int64(now))
		if k >= l.warmCount {
			lc.lags = append(lc.lags, now-at)
		}
		lc.inflight.Add(1)
		p.id = id - 1 // appendNext takes the one after
		p.appendNext(1)
		if err := p.flush(); err != nil {
			return err
		}
	}
	return nil
}

// ack records one PUBACK's latencies (reader goroutine).
func (lc *latConn) ack(l *latLoad, id uint16) {
	now := time.Since(l.base)
	if id == 0 || id > latIDs {
		return
	}
	if at := lc.sched[id].Load(); at >= l.warmNs {
		lc.lat = append(lc.lat, now-time.Duration(at))
		lc.svc = append(lc.svc, now-time.Duration(lc.sent[id].Load()))
	}
	lc.inflight.Add(-1)
}

func (l *latLoad) result(d time.Duration) latRun {
	var lat, svc, lags []time.Duration
	for _, lc := range l.conns {
		lat, svc, lags = append(lat, lc.lat...), append(svc, lc.svc...), append(lags, lc.lags...)
	}
	for _, s := range [][]time.Duration{lat, svc, lags} {
		slices.Sort(s)
	}
	r := latRun{samples: len(lat), achieved: float64(len(lat)) / d.Seconds()}
	if len(lat) == 0 {
		return r
	}
	r.p50, r.p99, r.p999, r.max = figure.Percentile(lat, 0.5), figure.Percentile(lat, 0.99), figure.Percentile(lat, 0.999), lat[len(lat)-1]
	r.sentP99, r.lagP99, r.lagMax = figure.Percentile(svc, 0.99), figure.Percentile(lags, 0.99), lags[len(lags)-1]
	return r
}
