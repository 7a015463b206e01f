package spool

import (
	"context"
	"sync"
	"time"
)

// request is one Txn waiting for the committer, or a maintenance job.
type request struct {
	txn      *Txn
	size     int
	enqueued time.Time
	done     func(Result)
	job      func(c *commit) error // retention; runs inside the commit's bbolt tx
}

// queue is the bounded line of requests in front of the committer.
type queue struct {
	mu     sync.Mutex
	reqs   []*request
	bytes  int
	closed bool
	room   chan struct{} // closed (and replaced) when bytes go down
	kick   chan struct{} // buffer 1: wakes the committer without piling up
}

func (q *queue) init() {
	q.room = make(chan struct{})
	q.kick = make(chan struct{}, 1)
}

// push queues r, waiting while the queue holds more than limit bytes (a
// request is always let into an empty queue). It fails only when ctx ends or
// the queue is closed.
func (q *queue) push(ctx context.Context, r *request, limit int) error {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		if q.bytes == 0 || q.bytes+r.size <= limit {
			q.reqs = append(q.reqs, r)
			q.bytes += r.size
			q.mu.Unlock()
			q.wake()
			return nil
		}
		room := q.room
		q.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (q *queue) wake() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// oldest reports when the oldest queued request arrived, how many requests
// and bytes are queued; n is 0 when the queue is empty.
func (q *queue) oldest() (at time.Time, n, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.reqs) == 0 {
		return time.Time{}, 0, 0
	}
	return q.reqs[0].enqueued, len(q.reqs), q.bytes
}

// take removes requests from the front, up to max bytes (at least one).
func (q *queue) take(max int) []*request {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, size := 0, 0
	for n < len(q.reqs) && (n == 0 || size+q.reqs[n].size <= max) {
		size += q.reqs[n].size
		n++
	}
	taken := make([]*request, n)
	copy(taken, q.reqs[:n])
	clear(q.reqs[:n])
	q.reqs = q.reqs[n:]
	q.bytes -= size
	if n > 0 {
		close(q.room)
		q.room = make(chan struct{})
	}
	return taken
}

// close refuses further pushes; queued requests stay for the committer.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.wake()
}
