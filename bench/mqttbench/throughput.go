package main

import (
	"errors"
	"fmt"
	"github.com/tributary-io/tributary/bench/internal/proc"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Section 1: fan-in throughput, closed loop. Each publisher sends as fast
// as the broker takes its messages: at QoS 1 with up to -window PUBLISHes
// in flight, at QoS 0 in batches as fast as TCP accepts them. A phase ends
// with every publisher draining: QoS 1 waits for the acks of all it sent;
// QoS 0 sends one QoS 1 PUBLISH last and waits for its PUBACK, which a
// broker sends only after it has handled everything before it on that
// connection (MQTT orders a connection's messages; Tributary acks in order
// and only once the record and every one before it is durable). The rate
// is the messages sent ÷ the time from the phase's start to its last ack.

// qos0Batch is how many QoS 0 PUBLISHes go into one write.
const qos0Batch = 32

// tpCase is one QoS and publisher count.
type tpCase struct {
	QoS        byte `json:"qos"`
	Publishers int  `json:"publishers"`
}

func (tc tpCase) String() string { return fmt.Sprintf("QoS %d × %d", tc.QoS, tc.Publishers) }

// tpRun is one measured phase against one broker.
type tpRun struct {
	msgs       int64
	elapsed    time.Duration
	brokerCPU  time.Duration
	genCPU     time.Duration
	stored     int64 // Tributary: records the spool counted in the phase (metric); -1 for the peers
	refused    int64
	onDisk     int64 // Tributary: records in the spool after stop (spool stat), all phases; -1 for the peers
	sentTotal  int64 // all phases, warm-up included
	verifiedOK bool
}

func (r tpRun) rate() float64 { return float64(r.msgs) / r.elapsed.Seconds() }

// tpLoad drives a set of publishers.
type tpLoad struct {
	ps     []*pubConn
	free   []chan struct{} // per publisher: tokens of its QoS 1 window
	window int
	sent   atomic.Int64
}

func newTPLoad(addr string, n, window int, prefix string) (*tpLoad, error) {
	l := &tpLoad{window: window, free: make([]chan struct{}, n)}
	for i := range l.free {
		l.free[i] = make(chan struct{}, window)
		for range window {
			l.free[i] <- struct{}{}
		}
	}
	ps, err := connectAll(addr, n, prefix, func(i int, _ *pubConn) func(uint16) {
		free := l.free[i]
		return func(uint16) {
			select {
			case free <- struct{}{}:
			default: // an ack for nothing in flight: ignored
			}
		}
	})
	l.ps = ps
	return l, err
}

// phase runs every publisher for d, then drains them; it returns the
// messages sent and the time until the last drain ended.
func (l *tpLoad) phase(qos byte, d time.Duration) (int64, time.Duration, error) {
	start := l.sent.Load()
	stop := make(chan struct{})
	errs := make([]error, len(l.ps))
	var wg sync.WaitGroup
	began := time.Now()
	for i, p := range l.ps {
		w := &window{p: p, free: l.free[i], size: l.window, stop: stop}
		if qos == 0 {
			wg.Go(func() { errs[i] = l.publishQoS0(w, qos0FenceEvery(len(l.ps))) })
		} else {
			wg.Go(func() { errs[i] = l.publishQoS1(w) })
		}
	}
	time.Sleep(d)
	close(stop)
	wg.Wait()
	elapsed := time.Since(began)
	return l.sent.Load() - start, elapsed, errors.Join(errs...)
}

// qos0Budget bounds the QoS 0 messages all publishers together may have
// sent beyond their last acked fence. Without a bound, the kernel's socket
// buffers of a thousand connections hold millions of messages when a
// phase ends, and its drain takes minutes.
const qos0Budget = 1 << 17

// qos0FenceEvery is how many QoS 0 messages a publisher sends between two
// QoS 1 fences; it has at most two fences unacked.
func qos0FenceEvery(publishers int) int {
	return max(qos0Batch, qos0Budget/(2*publishers)/qos0Batch*qos0Batch)
}

// window is a publisher's share of the QoS 1 packets in flight: tokens in
// free, held ones counted in held.
type window struct {
	p    *pubConn
	free chan struct{}
	size int
	held int
	stop <-chan struct{}
}

// take waits for one token, then takes as many more as are free, up to
// most; 0 means stop came first.
func (w *window) take(most int) (int, error) {
	select {
	case <-w.free:
	case <-w.stop:
		return 0, nil
	case <-w.p.dead:
		return 0, w.p.failure()
	}
	n := 1
	for n < most {
		select {
		case <-w.free:
			n++
			continue
		default:
		}
		break
	}
	w.held += n
	return n, nil
}

// fill waits until it holds every token, i.e. everything sent is acked,
// then gives them all back.
func (w *window) fill() error {
	timeout := time.After(waitTimeout)
	for ; w.held < w.size; w.held++ {
		select {
		case <-w.free:
		case <-w.p.dead:
			return w.p.failure()
		case <-timeout:
			return fmt.Errorf("publisher %s: %d publishes not acked %v after the phase", w.p.c.LocalAddr(), w.size-w.held, waitTimeout)
		}
	}
	for ; w.held > 0; w.held-- {
		w.free <- struct{}{}
	}
	return nil
}

// publishQoS1 sends with up to the window in flight until stop, then
// waits for every ack.
func (l *tpLoad) publishQoS1(w *window) error {
	for {
		n, err := w.take(w.size)
		if err != nil {
			return err
		}
		if n == 0 {
			return w.fill()
		}
		w.held -= n // each goes back with its PUBACK
		for range n {
			w.p.appendNext(1)
		}
		if err := w.p.flush(); err != nil {
			return err
		}
		l.sent.Add(int64(n))
	}
}

// publishQoS0 sends QoS 0 in writes of qos0Batch until stop, with a QoS 1
// fence after every fenceEvery messages, at most two unacked; then one
// last fence, whose PUBACK ends its phase.
func (l *tpLoad) publishQoS0(w *window, fenceEvery int) error {
	for ; w.held < w.size-2; w.held++ { // two tokens left: two fences in flight at most
		<-w.free // all free: the last phase ended with fill
	}
	since := 0
	for {
		select {
		case <-w.stop:
			_, err := l.fence(w, true)
			return err
		default:
		}
		for range qos0Batch {
			w.p.appendNext(0)
		}
		l.sent.Add(qos0Batch)
		if since += qos0Batch; since < fenceEvery {
			if err := w.p.flush(); err != nil {
				return err
			}
			continue
		}
		since = 0
		if last, err := l.fence(w, false); last || err != nil {
			return err
		}
	}
}

// fence appends a QoS 1 PUBLISH to what is waiting to be written and
// writes it all, once a token is free. The last fence of a phase (last,
// or stop came while waiting for the token) then waits for every ack.
func (l *tpLoad) fence(w *window, last bool) (bool, error) {
	if last {
		w.stop = nil
	}
	n, err := w.take(1)
	if err != nil {
		return last, err
	}
	if n == 0 { // stop came: this fence is the last
		return l.fence(w, true)
	}
	w.held--
	w.p.appendNext(1)
	l.sent.Add(1)
	if err := w.p.flush(); err != nil {
		return last, err
	}
	if last {
		return true, w.fill()
	}
	return false, nil
}

// tpOnce measures one case against a fresh broker: connect, a warm-up
// phase, the measured phase; for Tributary, then the spool's own counts.
func tpOnce(c config, kind *brokerKind, tc tpCase, warm, d time.Duration, during func(b *broker) (func() error, error)) (tpRun, error) {
	var r tpRun
	err := withBroker(c, kind, func(b *broker) error {
		l, err := newTPLoad(b.addr, tc.Publishers, c.window, "tp")
		if err != nil {
			return err
		}
		defer closeAll(l.ps)
		if _, _, err := l.phase(tc.QoS, warm); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		if r, err = measurePhase(l, b, tc.QoS, d, during); err != nil {
			return err
		}
		r.sentTotal = l.sent.Load()
		closeAll(l.ps)
		return b.verifyStored(&r)
	})
	return r, err
}

// measurePhase runs the measured phase with the broker's and the
// generator's CPU time, and Tributary's metrics, read around it.
func measurePhase(l *tpLoad, b *broker, qos byte, d time.Duration, during func(*broker) (func() error, error)) (tpRun, error) {
	r := tpRun{stored: -1, onDisk: -1}
	m0, err := b.scrape()
	if err != nil {
		return r, err
	}
	var stopProf func() error
	if during != nil {
		if stopProf, err = during(b); err != nil {
			return r, err
		}
	}
	b0, err := proc.CPU(b.pid())
	if err != nil {
		return r, err
	}
	g0, err := proc.CPU(0)
	if err != nil {
		return r, err
	}
	r.msgs, r.elapsed, err = l.phase(qos, d)
	if err != nil {
		return r, err
	}
	b1, err := proc.CPU(b.pid())
	if err != nil {
		return r, err
	}
	g1, err := proc.CPU(0)
	if err != nil {
		return r, err
	}
	r.brokerCPU, r.genCPU = b1-b0, g1-g0
	if stopProf != nil {
		if err := stopProf(); err != nil {
			return r, err
		}
	}
	m1, err := b.scrape()
	if m0 != nil && err == nil {
		r.stored = int64(m1[metricAppended] - m0[metricAppended])
		r.refused = int64(refused(m1) - refused(m0))
	}
	return r, err
}

// scrape reads Tributary's metrics; nil for the peers.
func (b *broker) scrape() (map[string]float64, error) {
	if b.metrics == "" {
		return nil, nil
	}
	return proc.Scrape(&http.Client{Timeout: 10 * time.Second}, b.metrics)
}

// verifyStored stops Tributary and counts what its spool holds: every
// message sent, warm-up included, must be there, and the measured phase's
// must have been counted by the spool's metric. The peers store nothing
// to check; their figures are messages handled.
func (b *broker) verifyStored(r *tpRun) error {
	if b.dataDir == "" {
		r.verifiedOK = true
		return nil
	}
	if err := b.stop(); err != nil {
		return err
	}
	n, err := spoolRecords(b.kind.bin, b.dataDir)
	if err != nil {
		return err
	}
	r.onDisk = int64(n)
	r.verifiedOK = r.onDisk == r.sentTotal && r.stored == r.msgs && r.refused == 0
	if !r.verifiedOK {
		return fmt.Errorf("tributary stored %d of %d messages sent (measured phase: the spool counted %d of %d, %d refused)",
			r.onDisk, r.sentTotal, r.stored, r.msgs, r.refused)
	}
	return nil
}
