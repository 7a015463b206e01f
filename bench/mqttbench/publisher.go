package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// pubConn is one publisher: a connection, the devices it publishes for,
// and a reader goroutine that hands each PUBACK to onAck.
type pubConn struct {
	c      net.Conn
	r      *bufio.Reader
	devs   []int
	topics []string
	next   int    // index into devs of the next publish
	seq    uint64 // readings published
	id     uint16 // last packet id used
	buf    []byte // packets being written
	pay    []byte // scratch payload

	onAck   func(id uint16)
	dead    chan struct{} // closed when the reader stops
	readErr error         // why, read after dead is closed
	closing atomic.Bool
}

// connectAll opens n publishers to addr, concurrently, each with its own
// client id and devices, and starts their readers; onAck(i) makes
// publisher i's ack handler.
func connectAll(addr string, n int, prefix string, onAck func(i int, p *pubConn) func(uint16)) ([]*pubConn, error) {
	ps := make([]*pubConn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for range min(n, 64) {
		wg.Go(func() {
			for i := range work {
				c, r, err := dialMQTT(addr, fmt.Sprintf("%s-%d", prefix, i), 300)
				if err != nil {
					errs[i] = err
					continue
				}
				p := &pubConn{c: c, r: r, devs: devicesOf(i, n), dead: make(chan struct{}), buf: make([]byte, 0, 64<<10)}
				for _, d := range p.devs {
					p.topics = append(p.topics, topicOf(d))
				}
				p.onAck = onAck(i, p)
				ps[i] = p
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := firstErr(errs); err != nil {
		closeAll(ps)
		return nil, fmt.Errorf("connect %d publishers: %w", n, err)
	}
	for _, p := range ps {
		go p.readLoop()
	}
	return ps, nil
}

// closeAll closes every publisher's connection; their readers then stop.
func closeAll(ps []*pubConn) {
	for _, p := range ps {
		if p != nil {
			p.closing.Store(true)
			closeHard(p.c)
		}
	}
}

func (p *pubConn) readLoop() {
	defer close(p.dead)
	buf := make([]byte, 64)
	for {
		id, err := readPuback(p.r, buf)
		if err != nil {
			if !p.closing.Load() {
				p.readErr = fmt.Errorf("publisher %s: %w", p.c.LocalAddr(), err)
			}
			return
		}
		p.onAck(id)
	}
}

// appendNext appends the publisher's next PUBLISH to p.buf.
func (p *pubConn) appendNext(qos byte) uint16 {
	d := p.next
	p.next = (p.next + 1) % len(p.devs)
	p.seq++
	p.id = nextID(p.id)
	p.pay = appendPayload(p.pay[:0], p.devs[d], p.seq)
	p.buf = appendPublish(p.buf, qos, p.id, p.topics[d], p.pay)
	return p.id
}

// flush writes p.buf.
func (p *pubConn) flush() error {
	_, err := p.c.Write(p.buf)
	p.buf = p.buf[:0]
	if err != nil {
		return fmt.Errorf("publisher %s: write: %w", p.c.LocalAddr(), err)
	}
	return nil
}

// failure is why the reader stopped, once it has.
func (p *pubConn) failure() error {
	<-p.dead
	if p.readErr != nil {
		return p.readErr
	}
	return errors.New("connection closed")
}

// waitTimeout is how long a phase waits for its last acks.
const waitTimeout = 60 * time.Second
