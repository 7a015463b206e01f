package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/tributary-io/tributary/bench/internal/proc"
	"net"
	"os/exec"
	"syscall"
	"time"

	"github.com/tributary-io/tributary/bench/internal/host"
)

// A system under test: a broker run as its own process, so that its CPU
// time and memory can be read from /proc apart from the load generator's.

// Durability tiers (BENCH.md), printed beside every figure.
const (
	tierFsync  = "fsync before ack"
	tierMemory = "memory only (acks before disk)"
)

// brokerKind is one of the brokers compared.
type brokerKind struct {
	Name    string `json:"name"`
	Tier    string `json:"tier"`
	Version string `json:"version"`
	Setup   string `json:"setup"`
	bin     string // the broker's executable, for Tributary's spool stat
	// start launches a fresh broker whose state lives under dir.
	start func(k *brokerKind, dir string, pin string) (*broker, error) `json:"-"`
}

// broker is one running broker process.
type broker struct {
	kind    *brokerKind
	cmd     *exec.Cmd
	addr    string // MQTT listener
	metrics string // Tributary's /metrics URL; "" for the peers
	dataDir string // Tributary's data_dir
	out     *proc.Capped
	exited  chan struct{}
	waitErr error
	stopped bool
}

func (b *broker) pid() int { return b.cmd.Process.Pid }

// launch starts argv (under taskset when pin names a CPU), and waits until
// addr accepts TCP connections.
func launch(kind *brokerKind, addr, pin string, argv ...string) (*broker, error) {
	if pin != "" {
		argv = append([]string{"taskset", "-c", pin}, argv...)
	}
	b := &broker{kind: kind, addr: addr, out: &proc.Capped{Max: 64 << 10}, exited: make(chan struct{})}
	b.cmd = exec.Command(argv[0], argv[1:]...)
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", kind.Name, err)
	}
	go func() { b.waitErr = b.cmd.Wait(); close(b.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		select {
		case <-b.exited:
			return nil, fmt.Errorf("%s exited at start (%w): %s", kind.Name, b.waitErr, b.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = b.stop()
			return nil, fmt.Errorf("%s does not listen on %s after 20s: %s", kind.Name, addr, b.out.String())
		}
	}
}

// stop ends the broker with SIGTERM (a clean shutdown: Tributary's spool
// is closed), or SIGKILL after 30 s.
func (b *broker) stop() error {
	if b.stopped {
		return nil
	}
	b.stopped = true
	select {
	case <-b.exited:
		return fmt.Errorf("%s had exited during the run (%w): %s", b.kind.Name, b.waitErr, b.out.String())
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		return nil // the exit status of a signalled peer means nothing here
	case <-time.After(30 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
		return fmt.Errorf("%s did not stop within 30s of SIGTERM; killed", b.kind.Name)
	}
}

// alive reports an error if the broker has exited.
func (b *broker) alive() error {
	select {
	case <-b.exited:
		return fmt.Errorf("%s exited (%w): %s", b.kind.Name, b.waitErr, b.out.String())
	default:
		return nil
	}
}

// withBroker runs fn against a fresh broker of kind in a new temporary
// directory, then stops it and removes the directory.
func withBroker(c config, kind *brokerKind, fn func(b *broker) error) error {
	return host.InTempDir(c.dir, "mqttbench-", func(dir string) error {
		b, err := kind.start(kind, dir, c.brokerCPU())
		if err != nil {
			return err
		}
		err = fn(b)
		if stopErr := b.stop(); stopErr != nil {
			return errors.Join(err, stopErr)
		}
		return err
	})
}

// goBuild builds a main package of this module into dir.
func goBuild(ctx context.Context, root, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}
