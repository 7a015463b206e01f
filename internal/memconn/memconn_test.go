package memconn

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func TestDialAcceptClose(t *testing.T) {
	l := Listen()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c) // echo
	}()
	c, err := l.Dial(context.Background(), "ignored")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo = %q, %v", buf, err)
	}
	c.Close()

	// Nobody accepts: the dial ends with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Dial(ctx, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial without accept: %v, want deadline exceeded", err)
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after close: %v", err)
	}
	if _, err := l.Dial(context.Background(), ""); err == nil {
		t.Fatal("dial after close succeeded")
	}
}
