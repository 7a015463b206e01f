package forwarder_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"golang.org/x/time/rate"
)

// proxy is a TCP relay between a forwarder and a hub whose link a test can
// break: cut resets every connection and refuses new ones, stall stops
// moving bytes without closing anything (a dead link: no FIN, no RST, as
// when a cable is pulled somewhere in between), slow caps the throughput,
// restore makes the link good again.
type proxy struct {
	t      testing.TB
	ln     net.Listener
	target string
	done   chan struct{}

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	down    bool          // cut: refuse new connections
	open    chan struct{} // closed while bytes may flow; replaced on stall
	limiter *rate.Limiter // nil: no cap
	wg      sync.WaitGroup
}

// chunk is how much a relay moves at a time, so a throughput cap applies
// smoothly.
const chunk = 4 << 10

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: target, done: make(chan struct{}), conns: map[net.Conn]struct{}{}, open: make(chan struct{})}
	close(p.open)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			reset(c)
			continue
		}
		p.wg.Add(1)
		go p.relay(c)
	}
}

// relay connects c to the target and moves bytes both ways until either
// side ends.
func (p *proxy) relay(c net.Conn) {
	defer p.wg.Done()
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		reset(c)
		return
	}
	if !p.track(c, u) {
		reset(c)
		reset(u)
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(u, c) }()
	go func() { defer wg.Done(); p.pipe(c, u) }()
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// track registers the pair, unless the link went down meanwhile.
func (p *proxy) track(c, u net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	return true
}

// pipe copies src to dst, a chunk at a time, waiting at the gate (stall)
// and for the throughput cap before each write. Whatever end fails, both
// are closed, as a real link's loss is seen by both sides.
func (p *proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, chunk)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass(n) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				reset(dst)
			}
			return
		}
	}
}

// pass waits until n bytes may go on: the link is not stalled and the cap
// allows them. It returns false when the proxy closes.
func (p *proxy) pass(n int) bool {
	p.mu.Lock()
	open, lim := p.open, p.limiter
	p.mu.Unlock()
	select {
	case <-open:
	case <-p.done:
		return false
	}
	if lim != nil {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-p.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		if lim.WaitN(ctx, n) != nil {
			return false
		}
	}
	return true
}

// cut resets every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	p.down = true
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		reset(c)
	}
}

// stall stops every byte, both ways, on current and new connections,
// without closing anything.
func (p *proxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default: // already stalled
	}
}

// slow caps the throughput of the whole link, all connections and both
// directions together, in bytes per second.
func (p *proxy) slow(bytesPerSecond int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.limiter = rate.NewLimiter(rate.Limit(bytesPerSecond), chunk)
}

// restore ends a cut, a stall and a cap.
func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
	p.limiter = nil
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

func (p *proxy) close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	p.ln.Close()
	p.cut()
	p.wg.Wait()
}

// reset closes c with an RST rather than a FIN: SO_LINGER 0.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
