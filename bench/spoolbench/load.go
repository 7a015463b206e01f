package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-io/tributary/spool"
)

// The closed-loop load generator: producers append as fast as their acks
// allow, one record per call, all in this process.

const asyncWindow = 100 // records in flight per asynchronous producer

// load is one closed-loop run's shared state.
type load struct {
	s     *testSpool
	w     *workload
	next  atomic.Uint64 // index of the next record of the pool to send
	acked atomic.Int64
	stop  atomic.Bool
	limit int64 // with stop unset, producers stop after this many sends; 0: no limit

	mu       sync.Mutex
	firstErr error
}

// fail keeps the first error and stops the run.
func (l *load) fail(err error) {
	l.mu.Lock()
	if l.firstErr == nil {
		l.firstErr = err
	}
	l.mu.Unlock()
	l.stop.Store(true)
}

// take returns the index of the next record to send, or false when the run
// is over.
func (l *load) take() (uint64, bool) {
	if l.stop.Load() {
		return 0, false
	}
	i := l.next.Add(1) - 1
	if l.limit > 0 && i >= uint64(l.limit) {
		return 0, false
	}
	return i, true
}

// blockingProducer appends one record per Append and waits for each.
func (l *load) blockingProducer(ctx context.Context) {
	for {
		i, ok := l.take()
		if !ok {
			return
		}
		if _, err := l.s.Append(ctx, streamName, l.w.at(i)); err != nil {
			l.fail(fmt.Errorf("append: %w", err))
			return
		}
		l.acked.Add(1)
	}
}

// asyncProducer keeps up to asyncWindow records in flight; each callback
// releases one slot (a receive from a channel it filled: never blocks).
func (l *load) asyncProducer(ctx context.Context) {
	sem := make(chan struct{}, asyncWindow)
	done := func(r spool.Result) {
		if r.Err != nil {
			l.fail(fmt.Errorf("append async: %w", r.Err))
		} else {
			l.acked.Add(1)
		}
		<-sem
	}
	for {
		i, ok := l.take()
		if !ok {
			break
		}
		sem <- struct{}{}
		if err := l.s.AppendAsync(ctx, streamName, []spool.Record{l.w.at(i)}, done); err != nil {
			<-sem
			l.fail(fmt.Errorf("append async: %w", err))
			break
		}
	}
	for range asyncWindow { // wait for the records in flight
		sem <- struct{}{}
	}
}

// loadResult is one closed-loop run.
type loadResult struct {
	records float64
	elapsed time.Duration
	cpuPerM float64
	commits commitStats
}

// runLoad runs producers against s until d has passed (d > 0) or limit
// records are sent, and waits for every ack.
func runLoad(s *testSpool, w *workload, async bool, producers int, d time.Duration, limit int64) (loadResult, error) {
	l := &load{s: s, w: w, limit: limit}
	ctx := context.Background()
	before := s.stats()
	cpu := startCPU()
	began := time.Now()
	if d > 0 {
		defer time.AfterFunc(d, func() { l.stop.Store(true) }).Stop()
	}
	var wg sync.WaitGroup
	for range producers {
		if async {
			wg.Go(func() { l.asyncProducer(ctx) })
		} else {
			wg.Go(func() { l.blockingProducer(ctx) })
		}
	}
	wg.Wait()
	elapsed := time.Since(began)
	n := float64(l.acked.Load())
	r := loadResult{records: n, elapsed: elapsed, cpuPerM: cpu.perMillion(n), commits: s.stats().sub(before)}
	return r, l.err()
}

func (l *load) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstErr
}

// rate is the acked records per second.
func (r loadResult) rate() float64 { return r.records / r.elapsed.Seconds() }
