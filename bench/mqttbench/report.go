package main

import (
	"context"
	"fmt"
	"github.com/tributary-io/tributary/bench/internal/proc"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tributary-io/tributary/bench/internal/figure"
	"github.com/tributary-io/tributary/bench/internal/host"
)

// report holds the settings and every result; absent sections stay nil.
type report struct {
	cfg      config
	progress io.Writer
	began    time.Time
	kinds    []*brokerKind
	binDir   string

	Settings   settings         `json:"settings"`
	Brokers    []*brokerKind    `json:"brokers"`
	Throughput []tpRow          `json:"throughput,omitempty"`
	Latency    []latRow         `json:"latency,omitempty"`
	Idle       []idleRow        `json:"idle_memory,omitempty"`
	Verdicts   []figure.Verdict `json:"targets"`
	Profile    []string         `json:"tributary_profile,omitempty"`
	ElapsedS   float64          `json:"elapsed_s"`
}

// settings are what a reader needs to rerun the figures.
type settings struct {
	Command     string  `json:"command"`
	Date        string  `json:"date"`
	GoVersion   string  `json:"go_version"`
	Platform    string  `json:"goos_goarch"`
	NumCPU      int     `json:"num_cpu"`
	Pinned      bool    `json:"pinned"`
	NoFile      uint64  `json:"rlimit_nofile"`
	Filesystem  string  `json:"filesystem"`
	MeanPayload float64 `json:"mean_payload_bytes"`
	MinPayload  int     `json:"min_payload_bytes"`
	MaxPayload  int     `json:"max_payload_bytes"`
	Example     string  `json:"example_payload"`
	LoadStart   string  `json:"loadavg_start"`
	LoadEnd     string  `json:"loadavg_end"`
}

// step reports progress (on stderr, not in the results).
func (r *report) step(format string, args ...any) {
	fmt.Fprintf(r.progress, "[%5.1fs] %s\n", time.Since(r.began).Seconds(), fmt.Sprintf(format, args...))
}

// prepare raises the open-file limit, pins the generator, builds the
// node and plain mochi from this tree, and finds Mosquitto.
func (r *report) prepare(args []string) error {
	r.began = time.Now()
	nofile, err := raiseNoFile()
	if err != nil {
		return err
	}
	if need := uint64(r.cfg.conns + 1000); r.cfg.has(3) && nofile < need {
		return fmt.Errorf("open-file limit %d is below the %d that -conns %d needs: raise it (ulimit -n)", nofile, need, r.cfg.conns)
	}
	if r.cfg.pinned() {
		if err := pinSelf(0); err != nil {
			return err
		}
	}
	root, err := proc.ModuleRoot("mqttbench")
	if err != nil {
		return err
	}
	if r.binDir, err = os.MkdirTemp("", "mqttbench-bin-"); err != nil {
		return err
	}
	for _, b := range r.cfg.brokers {
		if err := r.addKind(b, root); err != nil {
			return err
		}
	}
	r.Brokers = r.kinds
	r.Settings = newSettings(r.cfg, args, nofile)
	return nil
}

func (r *report) addKind(name, root string) error {
	ctx := context.Background()
	switch name {
	case "tributary":
		bin := filepath.Join(r.binDir, "tributary")
		r.step("building ./cmd/tributary")
		if err := goBuild(ctx, root, "./cmd/tributary", bin); err != nil {
			return err
		}
		r.kinds = append(r.kinds, tributaryKind(bin, treeVersion(root)))
	case "mosquitto":
		k, err := mosquittoKind()
		if err != nil {
			return err
		}
		r.kinds = append(r.kinds, k)
	case "mochi":
		bin := filepath.Join(r.binDir, "plainmochi")
		r.step("building ./bench/mqttbench/plainmochi")
		if err := goBuild(ctx, root, "./bench/mqttbench/plainmochi", bin); err != nil {
			return err
		}
		r.kinds = append(r.kinds, mochiKind(bin))
	}
	return nil
}

func newSettings(c config, args []string, nofile uint64) settings {
	s := settings{
		Command: strings.Join(append([]string{"go run ./bench/mqttbench"}, args...), " "),
		Date:    time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, NumCPU: runtime.NumCPU(), Pinned: c.pinned(), NoFile: nofile,
		Filesystem: host.FSKind(c.dir), MinPayload: 1 << 30, LoadStart: loadAvg(),
	}
	var total int
	var buf []byte
	const samples = 10000
	for i := range samples {
		buf = appendPayload(buf[:0], i%devices, uint64(i))
		total += len(buf)
		s.MinPayload, s.MaxPayload = min(s.MinPayload, len(buf)), max(s.MaxPayload, len(buf))
	}
	s.MeanPayload = float64(total) / samples
	s.Example = string(appendPayload(nil, 42, 123))
	return s
}

func (r *report) printSettings(w io.Writer) {
	s, c := r.Settings, r.cfg
	fmt.Fprintf(w, "mqttbench: MQTT fan-in on Tributary's edge node and its peers, measured in the same run\n\n")
	fmt.Fprintf(w, "command    %s\n", s.Command)
	fmt.Fprintf(w, "date       %s\n", s.Date)
	fmt.Fprintf(w, "platform   %s %s, NumCPU %d, open-file limit %d\n", s.GoVersion, s.Platform, s.NumCPU, s.NoFile)
	fmt.Fprintf(w, "dir        %s (%s): each broker's data in a fresh temporary directory, removed after its run\n", c.dir, s.Filesystem)
	pin := "not pinned: brokers and generator share every CPU"
	if s.Pinned {
		pin = "each broker pinned to CPU 1 (taskset), the load generator to CPU 0"
	}
	fmt.Fprintf(w, "cpus       %s\n", pin)
	fmt.Fprintf(w, "load       %s (1, 5, 15 min) at the start: other work on this machine shares its CPUs and disk\n", s.LoadStart)
	for _, k := range r.kinds {
		fmt.Fprintf(w, "broker     %s %s — %s; tier: %s\n", k.Name, k.Version, k.Setup, k.Tier)
	}
	fmt.Fprintf(w, "workload   MQTT 3.1.1, topic bench/{device}, %d devices spread over the publishers; JSON payload of %d–%d B (mean %.1f B)\n",
		devices, s.MinPayload, s.MaxPayload, s.MeanPayload)
	fmt.Fprintf(w, "           e.g. %s\n", s.Example)
	fmt.Fprintf(w, "generator  one process, raw TCP, each publisher its own connection; QoS 1 window %d per publisher; QoS 0 in writes of %d\n",
		c.window, qos0Batch)
	fmt.Fprintf(w, "method     each figure: median (min–max) of %d run(s); every run starts a fresh broker, connects, runs a %v warm-up phase, then measures\n",
		c.runs, c.warmup)
	fmt.Fprintf(w, "           throughput phases %v, latency runs %v at %d msg/s from %d publishers, idle memory at %d connections\n",
		c.duration, c.latencyDur, c.rate, c.latPublishers, c.conns)
}

// measure runs the chosen sections in order and prints each table as soon
// as it is known.
func (r *report) measure(out io.Writer) error {
	if r.cfg.has(1) {
		if err := r.runThroughput(out); err != nil {
			return err
		}
	}
	if r.cfg.has(2) {
		if err := r.runLatency(out); err != nil {
			return err
		}
	}
	if r.cfg.has(3) {
		if err := r.runIdle(out); err != nil {
			return err
		}
	}
	r.ElapsedS = time.Since(r.began).Seconds()
	r.Settings.LoadEnd = loadAvg()
	return nil
}

// loadAvg is the 1, 5 and 15 minute load averages, or "unknown".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
