package main

import (
	"fmt"
	benchproc "github.com/tributary-io/tributary/bench/internal/proc"
	"net"
	"os/exec"
	"syscall"
	"time"
)

// proc is a system under test run as its own process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	out     *benchproc.Capped
	exited  chan struct{}
	waitErr error
}

// launch starts argv and waits until addr accepts TCP connections.
func launch(name, addr string, argv ...string) (*proc, error) {
	p := &proc{name: name, out: &benchproc.Capped{Max: 64 << 10}, exited: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited at start (%w): %s", name, p.waitErr, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.stop()
			return nil, fmt.Errorf("%s does not listen on %s after 20s: %s", name, addr, p.out.String())
		}
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) cpu() time.Duration {
	d, err := benchproc.CPU(p.pid())
	if err != nil {
		return 0
	}
	return d
}

// alive reports an error if the process has exited.
func (p *proc) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited (%w): %s", p.name, p.waitErr, p.out.String())
	default:
		return nil
	}
}

// stop ends the process with SIGTERM, or SIGKILL after 30 s.
func (p *proc) stop() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within 30s of SIGTERM; killed", p.name)
	}
}
