// Package proc holds what the bench programs share for running a system
// under test as a process of its own: free ports, the process's CPU time
// (and this one's), a bounded copy of its output, its Prometheus metrics,
// and the module's root to build it from.
package proc

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// FreeAddr returns a loopback address with a port free at this moment.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// ModuleRoot is the directory of this module's go.mod; bench names the
// program for the error when run from outside the module.
func ModuleRoot(bench string) (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	p := string(bytes.TrimSpace(b))
	if p == "" || p == os.DevNull {
		return "", fmt.Errorf("run %s from inside the tributary module (go run ./bench/%s)", bench, bench)
	}
	return filepath.Dir(p), nil
}

// Capped keeps the first Max bytes written to it: a process's output, for
// error messages.
type Capped struct {
	Max int
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *Capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.Max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *Capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}
