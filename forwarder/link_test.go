package forwarder_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tributary-io/tributary/forwarder"
	"github.com/tributary-io/tributary/internal/testcert"
)

// produceContinuously appends one record per key every few milliseconds
// until the returned stop (idempotent) is called.
func produceContinuously(e *edge) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				e.produce(hubStream, keys, 1)
			}
		}
	}()
	return sync.OnceFunc(func() { close(quit); <-done })
}

// growth waits until the hub holds more than n records of the stream and
// returns how long that took.
func growth(t *testing.T, h *hub, n uint64, what string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	for h.count(hubStream) <= n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// While records are produced without pause, the link to the hub is reset,
// goes dead without a reset, and slows to a crawl; each time the forwarder
// notices and carries on, and in the end the hub holds every record
// exactly once, in order.
func TestSurvivesLinkFaults(t *testing.T) {
	const (
		// gRPC will not ping more often than every 10 s (it raises any
		// smaller KeepaliveTime to that), so 10 s is the fastest the edge
		// can notice a dead link by pinging; the timeout is made short.
		// With the defaults (10 s + 10 s) a dead link is found within 20 s.
		keepaliveTime    = 10 * time.Second
		keepaliveTimeout = 500 * time.Millisecond
		// The forwarder's default: a link that comes back is used within
		// a second or so. Resumption is logged for each cut and asserted
		// against a loose bound only, so that a slow machine does not fail
		// the test.
		maxBackoff  = time.Second
		resumeBound = 5 * time.Second
	)
	ca := testcert.NewCA(t, "sites")
	h := startHub(t, ca, hubConfig{})
	px := startProxy(t, h.addr)
	e := openEdge(t, "plant-01")
	e.forward(forwarder.Options{
		Addr: px.addr(), TLS: clientTLS(t, ca, "plant-01"),
		KeepaliveTime: keepaliveTime, KeepaliveTimeout: keepaliveTimeout, MaxBackoff: maxBackoff,
	})
	stop := produceContinuously(e)
	defer stop()
	growth(t, h, 500, "the first records at the hub", patience)

	// Cut: every connection reset, new ones refused, for a while; then
	// the link is back.
	for i, down := range []time.Duration{1200 * time.Millisecond, 1500 * time.Millisecond, 2 * time.Second} {
		failures := e.fwd.Status().Failures
		px.cut()
		waitFor(t, "the forwarder to see the cut", patience, func() bool { return e.fwd.Status().Failures > failures })
		time.Sleep(down)
		n := h.count(hubStream)
		px.restore()
		took := growth(t, h, n, "delivery to resume after a cut", patience)
		t.Logf("cut %d: down %s; delivery resumed %s after the link came back", i+1, down, took.Round(time.Millisecond))
		if took > resumeBound {
			t.Errorf("delivery resumed %s after the link came back; want about MaxBackoff (%s), at most %s", took, maxBackoff, resumeBound)
		}
	}

	// Stall: bytes stop both ways, nothing is closed. Only the keepalive
	// can tell; the session must end within its time and timeout.
	failures := e.fwd.Status().Failures
	stalled := time.Now()
	px.stall()
	waitFor(t, "the forwarder to notice the dead link", keepaliveTime+keepaliveTimeout+10*time.Second, func() bool {
		return e.fwd.Status().Failures > failures
	})
	noticed := time.Since(stalled)
	t.Logf("stall: the dead link was noticed after %s (keepalive %s + %s)", noticed.Round(time.Millisecond), keepaliveTime, keepaliveTimeout)
	if noticed < keepaliveTime-time.Second {
		t.Errorf("a stall was taken for a failure after %s, before any keepalive could have failed", noticed)
	}
	n := h.count(hubStream)
	px.restore()
	took := growth(t, h, n, "delivery to resume after a stall", patience)
	t.Logf("stall: delivery resumed %s after the link came back", took.Round(time.Millisecond))

	// Slow: a link slower than the production keeps delivering, and is
	// not mistaken for a dead one.
	failures = e.fwd.Status().Failures
	px.slow(8 << 10)
	for range 4 {
		n := h.count(hubStream)
		growth(t, h, n, "delivery over a slow link", patience)
		time.Sleep(500 * time.Millisecond)
	}
	if f := e.fwd.Status().Failures; f != failures {
		t.Errorf("a slow link ended %d sessions: %s", f-failures, e.fwd.Status().LastError)
	}
	px.restore()

	stop()
	want := wantAll(e)
	total := uint64(0)
	for _, n := range want {
		total += uint64(n)
	}
	waitFor(t, "every record at the hub", patience, func() bool { return h.count(hubStream) == total })
	exactlyOnce(t, h.records(hubStream), "plant-01", want)
	t.Logf("%d records, %d sessions", total, e.fwd.Status().Sessions)
}
