package main

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Section 3: memory per idle connection. A fresh broker settles, its RSS
// (and Tributary's Go heap in use) is read; -conns clients connect (MQTT
// 3.1.1 CONNECT, clean session, keepalive 300 s, then silence); after a
// settling pause RSS and heap are read again. The figure is the growth
// divided by the connections.

// idleSettle is the pause before each reading.
const idleSettle = 2 * time.Second

type idleRun struct {
	rss0, rss1   int64
	heap0, heap1 int64 // Tributary only; -1 unknown
	conns        int
	connectTime  time.Duration
}

func (r idleRun) perConn() float64 { return float64(r.rss1-r.rss0) / float64(r.conns) }

func (r idleRun) heapPerConn() float64 {
	if r.heap0 < 0 {
		return -1
	}
	return float64(r.heap1-r.heap0) / float64(r.conns)
}

func idleOnce(c config, kind *brokerKind) (idleRun, error) {
	r := idleRun{conns: c.conns, heap0: -1, heap1: -1}
	err := withBroker(c, kind, func(b *broker) (err error) {
		time.Sleep(idleSettle)
		if r.rss0, r.heap0, err = memOf(b); err != nil {
			return err
		}
		began := time.Now()
		conns, err := connectIdle(b.addr, c.conns)
		defer func() {
			for _, cn := range conns {
				closeHard(cn)
			}
		}()
		if err != nil {
			return err
		}
		r.connectTime = time.Since(began)
		time.Sleep(idleSettle)
		if err := b.alive(); err != nil {
			return err
		}
		r.rss1, r.heap1, err = memOf(b)
		return err
	})
	return r, err
}

// memOf reads a broker's RSS, and Tributary's Go heap in use (-1 for the
// peers).
func memOf(b *broker) (rss, heap int64, err error) {
	if rss, err = procRSS(b.pid()); err != nil {
		return 0, 0, err
	}
	m, err := b.scrape()
	if err != nil || m == nil {
		return rss, -1, err
	}
	h, ok := m[metricHeap]
	if !ok {
		return rss, -1, fmt.Errorf("no %s in the node's metrics", metricHeap)
	}
	return rss, int64(h), nil
}

// connectIdle opens n MQTT connections that then stay silent.
func connectIdle(addr string, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	errs := make([]error, n)
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(n, 64) {
		wg.Go(func() {
			for i := range work {
				c, _, err := dialMQTT(addr, fmt.Sprintf("idle-%d", i), 300)
				conns[i], errs[i] = c, err
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	var open []net.Conn
	for _, c := range conns {
		if c != nil {
			open = append(open, c)
		}
	}
	if err := firstErr(errs); err != nil {
		return open, fmt.Errorf("connect %d idle clients (%d failed): %w", n, n-len(open), err)
	}
	return open, nil
}

func firstErr(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
