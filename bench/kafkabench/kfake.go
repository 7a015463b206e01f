package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	benchproc "github.com/tributary-io/tributary/bench/internal/proc"
)

// kfake, franz-go's Kafka fake, runs in a child process of its own (this
// program, re-executed with brokerEnv set), so that its CPU time is read
// apart from the hub's and its memory (it keeps every record) is not in
// the hub's Go heap. The child prints its address on stdout, serves until
// its stdin closes, then prints its request counts as JSON and exits.

const brokerEnv = "KAFKABENCH_KFAKE" // "BROKERS:mem", or "BROKERS:fsync:DIR"

// brokerStats are the child's request counts.
type brokerStats struct {
	ProduceRequests int64 `json:"produce_requests"`
	EndTxns         int64 `json:"end_txns"`
	AddPartitions   int64 `json:"add_partitions_to_txn"`
}

// brokerChild is main in the child: it never returns.
func brokerChild(mode string) {
	n, mode, _ := strings.Cut(mode, ":")
	brokers, err := strconv.Atoi(n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake: bad", brokerEnv, "value")
		os.Exit(1)
	}
	opts := []kfake.Opt{kfake.NumBrokers(brokers)}
	if dir, ok := strings.CutPrefix(mode, "fsync:"); ok {
		opts = append(opts, kfake.DataDir(dir), kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	var st struct{ produce, endTxn, addParts atomic.Int64 }
	count := func(key kmsg.Key, n *atomic.Int64) {
		c.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			n.Add(1)
			return nil, nil, false
		})
	}
	count(kmsg.Produce, &st.produce)
	count(kmsg.EndTxn, &st.endTxn)
	count(kmsg.AddPartitionsToTxn, &st.addParts)
	fmt.Println(strings.Join(c.ListenAddrs(), ","))
	_, _ = io.Copy(io.Discard, os.Stdin)
	c.Close()
	b, _ := json.Marshal(brokerStats{ProduceRequests: st.produce.Load(), EndTxns: st.endTxn.Load(), AddPartitions: st.addParts.Load()})
	fmt.Println(string(b))
	os.Exit(0)
}

// broker is a running kfake child.
type broker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	errOut *benchproc.Capped
	addrs  []string
	exited chan struct{}
	err    error
}

// startBroker starts a kfake child: in memory, or with fsyncDir its data
// directory and an fsync per produced batch.
func startBroker(brokers int, fsyncDir string) (*broker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	mode := "mem"
	if fsyncDir != "" {
		mode = "fsync:" + fsyncDir
	}
	b := &broker{cmd: exec.Command(exe), lines: make(chan string, 2), errOut: &benchproc.Capped{Max: 16 << 10}, exited: make(chan struct{})}
	b.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%s", brokerEnv, brokers, mode))
	b.cmd.Stderr = b.errOut
	if b.stdin, err = b.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kfake: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		b.err = b.cmd.Wait()
		close(b.exited)
	}()
	select {
	case l := <-b.lines:
		b.addrs = strings.Split(l, ",")
		return b, nil
	case <-b.exited:
		return nil, fmt.Errorf("kfake exited at start (%w): %s", b.err, b.errOut.String())
	case <-time.After(20 * time.Second):
		_ = b.cmd.Process.Kill()
		return nil, errors.New("kfake did not start within 20s")
	}
}

func (b *broker) cpu() time.Duration {
	d, err := benchproc.CPU(b.cmd.Process.Pid)
	if err != nil {
		return 0
	}
	return d
}

// stop ends the child and returns its request counts.
func (b *broker) stop() (brokerStats, error) {
	var st brokerStats
	b.stdin.Close()
	select {
	case l := <-b.lines:
		if err := json.Unmarshal([]byte(l), &st); err != nil {
			return st, fmt.Errorf("kfake's counts %q: %w", l, err)
		}
	case <-b.exited:
	case <-time.After(30 * time.Second):
		_ = b.cmd.Process.Kill()
		return st, errors.New("kfake did not stop within 30s")
	}
	<-b.exited
	if b.err != nil {
		return st, fmt.Errorf("kfake: %w: %s", b.err, b.errOut.String())
	}
	return st, nil
}
