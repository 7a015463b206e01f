package main

import (
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// perfRec is a `perf record -g` attached to a running process.
type perfRec struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startPerf(pid int, out string) (*perfRec, error) {
	cmd := exec.Command("perf", "record", "-g", "-F", "999", "-p", strconv.Itoa(pid), "-o", out)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf record: %w (is perf installed?)", err)
	}
	p := &perfRec{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	time.Sleep(300 * time.Millisecond) // let it attach
	return p, nil
}

// stop ends the recording with SIGINT, as perf expects, and waits for the
// file to be written.
func (p *perfRec) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
