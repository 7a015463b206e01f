package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tributary-io/tributary/bench/internal/figure"
	benchproc "github.com/tributary-io/tributary/bench/internal/proc"
	"github.com/tributary-io/tributary/bench/internal/replwork"
)

// report holds the settings and every result.
type report struct {
	cfg       config
	progress  io.Writer
	began     time.Time
	workDir   string
	template  string // data_dir of the filled edge
	bin       string // tributary, built from this tree
	mosquitto string
	recs      []record

	Settings settings         `json:"settings"`
	Drain    []drainRun       `json:"tributary_drain,omitempty"`
	Backlog  []bridgeRun      `json:"mosquitto_bridge_backlog,omitempty"`
	Bridge   []bridgeRun      `json:"mosquitto_bridge_streaming,omitempty"`
	Latency  []latRun         `json:"latency,omitempty"`
	Verdicts []figure.Verdict `json:"targets"`
	ElapsedS float64          `json:"elapsed_s"`
}

type settings struct {
	replwork.Machine
	Tributary string `json:"tributary"`
	Mosquitto string `json:"mosquitto"`
	replwork.Backlog
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
}

func (r *report) step(format string, args ...any) {
	replwork.Step(r.progress, r.began, format, args...)
}

// prepare builds tributary, finds mosquitto, generates the workload and
// fills the edge spool template once (each run copies it).
func (r *report) prepare(args []string) error {
	r.began = time.Now()
	c := r.cfg
	var err error
	if r.workDir, err = os.MkdirTemp(c.dir, "replbench-"); err != nil {
		return err
	}
	r.Settings = settings{Machine: replwork.NewMachine("replbench", args, r.workDir), LoadStart: replwork.LoadAvg()}
	if c.has(1) {
		root, err := benchproc.ModuleRoot("replbench")
		if err != nil {
			return err
		}
		r.bin = filepath.Join(r.workDir, "tributary")
		r.step("go build ./cmd/tributary")
		cmd := exec.Command("go", "build", "-o", r.bin, "./cmd/tributary")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/tributary: %w\n%s", err, out)
		}
		r.Settings.Tributary = replwork.TreeVersion(root)
	}
	if c.has(2) {
		if r.mosquitto, err = exec.LookPath("mosquitto"); err != nil {
			if _, serr := os.Stat("/usr/sbin/mosquitto"); serr != nil {
				return errors.New("mosquitto not found: apt-get install -y mosquitto, or leave section 2 out (-sections 1,3)")
			}
			r.mosquitto = "/usr/sbin/mosquitto"
		}
		out, _ := exec.Command(r.mosquitto, "-h").CombinedOutput()
		v, _, _ := strings.Cut(string(out), "\n")
		r.Settings.Mosquitto = strings.TrimSpace(strings.TrimPrefix(v, "mosquitto version "))
	}
	work := replwork.Workload(c.records, c.devices)
	r.recs = records(work)
	r.Settings.Describe(work)
	if c.has(1) {
		r.template = filepath.Join(r.workDir, "template")
		r.step("filling the edge spool template with %d records", c.records)
		if err := r.Settings.Fill(filepath.Join(r.template, "spool"), work, c.fillBatch); err != nil {
			return err
		}
	}
	return nil
}

// measure runs the sections round by round, so that drift on the shared
// machine falls on every system alike.
func (r *report) measure() error {
	c := r.cfg
	for i := range c.runs {
		runDir, err := os.MkdirTemp(r.workDir, "run-")
		if err != nil {
			return err
		}
		if c.has(1) {
			r.step("run %d/%d: Tributary drain of %d records", i+1, c.runs, c.records)
			d, err := r.drainTributary(runDir, false)
			if err != nil {
				return fmt.Errorf("tributary drain: %w", err)
			}
			r.step("  %.0f records/s, %.1f wire bytes/record", d.Rate, float64(d.WireUp)/float64(d.Records))
			r.Drain = append(r.Drain, d)
		}
		if c.has(2) {
			for _, backlog := range []bool{true, false} {
				r.step("run %d/%d: Mosquitto bridge, %d records, backlog %v", i+1, c.runs, c.records, backlog)
				b, err := r.bridgeMosquitto(runDir, backlog)
				if err != nil {
					return fmt.Errorf("mosquitto bridge: %w", err)
				}
				r.step("  %.0f records/s, %.1f wire bytes/record", b.Rate, float64(b.WireUp)/float64(b.Records))
				if backlog {
					r.Backlog = append(r.Backlog, b)
				} else {
					r.Bridge = append(r.Bridge, b)
				}
			}
		}
		if c.has(3) {
			r.step("run %d/%d: latency at %d records/s", i+1, c.runs, c.rate)
			l, err := r.latencyRun(runDir)
			if err != nil {
				return fmt.Errorf("latency: %w", err)
			}
			r.step("  p50 %.2f ms, p99 %.2f ms", l.P50Ms, l.P99Ms)
			r.Latency = append(r.Latency, l)
		}
		if err := os.RemoveAll(runDir); err != nil {
			return err
		}
	}
	if c.perf != "" && c.has(1) {
		runDir, err := os.MkdirTemp(r.workDir, "perf-")
		if err != nil {
			return err
		}
		r.step("extra drain under perf record (not counted): %s-hub.data, %s-edge.data", c.perf, c.perf)
		if _, err := r.drainTributary(runDir, true); err != nil {
			return fmt.Errorf("drain under perf: %w", err)
		}
	}
	r.ElapsedS = time.Since(r.began).Seconds()
	r.Settings.LoadEnd = replwork.LoadAvg()
	return nil
}

func errorsOf(errs ...error) error { return errors.Join(errs...) }

func (r *report) printSettings(w io.Writer) {
	s, c := r.Settings, r.cfg
	fmt.Fprintf(w, "replbench  %s\n", s.Command)
	fmt.Fprintf(w, "date       %s\n", s.Date)
	fmt.Fprintf(w, "platform   %s %s, NumCPU %d; not pinned: each side's two processes, the relay and the generator share the cores\n", s.GoVersion, s.Platform, s.NumCPU)
	fmt.Fprintf(w, "machine    shared: other engineers run tests on it concurrently; load average at the start %s\n", s.LoadStart)
	fmt.Fprintf(w, "dir        %s\n", s.Filesystem)
	s.PrintWorkload(w, c.records, c.devices)
	fmt.Fprintf(w, "runs       %d per figure (median, min–max), sections interleaved round by round\n", c.runs)
	if c.has(1) {
		fmt.Fprintf(w, "tributary  %s: `tributary hub -c` and `tributary edge -c` processes, generated minimal configs: stream telemetry (8 partitions, zstd), "+
			"replication plaintext on loopback through the relay, every other setting default (upstream.window 32, spool linger 2ms); "+
			"tier: fsync before ack on both (the hub acks a batch once committed and fsynced)\n", s.Tributary)
		fmt.Fprintf(w, "           edge spool filled before the edge starts: spool.Append of %d records a call, %.1f s, %.1f MB stored (%.1f bytes/record)\n",
			c.fillBatch, s.FillSeconds, float64(s.StoredBytes)/1e6, float64(s.StoredBytes)/float64(c.records))
	}
	if c.has(2) {
		fmt.Fprintf(w, "mosquitto  %s: %s; tier: memory only (acks before disk: persistence is a snapshot every autosave_interval and at exit)\n", s.Mosquitto, mosqSetup)
		fmt.Fprintf(w, "           publisher: one MQTT 3.1.1 connection to the edge broker, QoS 1, %d in flight; subscriber: one connection to the central broker, sensors/# at QoS 1\n", c.mqttWindow)
	}
	fmt.Fprintln(w, "wire       a TCP relay on the edge → hub (or edge → central) link counts TCP payload bytes each way; TLS off")
}
