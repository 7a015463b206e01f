package main

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// relay forwards TCP connections from its own loopback port to target and
// counts the bytes each way: the bytes on the wire of one link (TCP
// payload; the TCP/IP headers are not counted).
type relay struct {
	ln     net.Listener
	target string
	up     atomic.Int64 // client → target
	down   atomic.Int64 // target → client
	first  atomic.Int64 // Unix ns of the first byte client → target after reset
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func startRelay(target string) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &relay{ln: ln, target: target}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		t, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, t)
		r.mu.Unlock()
		r.wg.Add(2)
		go r.pipe(t, c, &r.up, true)
		go r.pipe(c, t, &r.down, false)
	}
}

// pipe copies src to dst, counting into n, and closes dst's write side at EOF.
func (r *relay) pipe(dst, src net.Conn, n *atomic.Int64, upstream bool) {
	defer r.wg.Done()
	buf := make([]byte, 256<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			if upstream {
				r.first.CompareAndSwap(0, time.Now().UnixNano())
			}
			n.Add(int64(k))
			if _, werr := dst.Write(buf[:k]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_ = src.Close() // may be closed already by the other direction
}

// reset zeroes the counters and the first-byte time.
func (r *relay) reset() { r.up.Store(0); r.down.Store(0); r.first.Store(0) }

func (r *relay) close() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
