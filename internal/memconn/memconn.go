// Package memconn is an in-process listener: a server serves on it and a
// client in the same process dials it, over net.Pipe, with no socket. An
// edge node uses it to run the hub's replication service in its own
// process, so that the forwarder writes straight to Kafka through the code
// a hub runs.
package memconn

import (
	"context"
	"errors"
	"net"
	"sync"
)

// Listener hands each Dial's far end to Accept.
type Listener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// Listen returns a listener with no address outside the process.
func Listen() *Listener {
	return &Listener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for a Dial, or for Close.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and Dial fail; connections made stay open.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is the listener's pseudo address.
func (l *Listener) Addr() net.Addr { return addr{} }

// Dial connects to the listener; it waits for Accept, the context or
// Close. The address is ignored, so Dial fits gRPC's WithContextDialer.
func (l *Listener) Dial(ctx context.Context, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
	case <-ctx.Done():
		client.Close()
		server.Close()
		return nil, ctx.Err()
	}
	client.Close()
	server.Close()
	return nil, errors.New("memconn: listener closed")
}

type addr struct{}

func (addr) Network() string { return "memconn" }
func (addr) String() string  { return "in-process" }
