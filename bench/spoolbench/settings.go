package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/tributary-io/tributary/bench/internal/host"
)

// settings are the versions and parameters a reader needs to rerun the
// figures.
type settings struct {
	Command      string            `json:"command"`
	Date         string            `json:"date"`
	GoVersion    string            `json:"go_version"`
	Platform     string            `json:"goos_goarch"`
	NumCPU       int               `json:"num_cpu"`
	GOMAXPROCS   int               `json:"gomaxprocs"`
	Modules      map[string]string `json:"modules"`
	Dir          string            `json:"dir"`
	Filesystem   string            `json:"filesystem"`
	Runs         int               `json:"runs"`
	DurationS    float64           `json:"throughput_run_s"`
	LatencyS     float64           `json:"latency_run_s"`
	Records      int               `json:"records_stored"`
	MeanPayload  float64           `json:"mean_record_bytes"` // key + value
	MeanKey      float64           `json:"mean_key_bytes"`
	ValueMin     int               `json:"value_min_bytes"`
	ValueMax     int               `json:"value_max_bytes"`
	Devices      int               `json:"devices"`
	Partitions   int               `json:"partitions"`
	StreamBudget int64             `json:"stream_max_bytes"`
	Example      string            `json:"example_value"`
	SpoolOptions string            `json:"spool_options"`
}

func newSettings(c config, w *workload, args []string) settings {
	keys, values := w.sizeOf(uint64(w.n))
	n := float64(w.n)
	s := settings{
		Command: strings.Join(append([]string{"go run ./bench/spoolbench"}, args...), " "),
		Date:    time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Modules: moduleVersions(), Dir: c.dir, Filesystem: host.FSKind(c.dir), Runs: c.runs,
		DurationS: c.duration.Seconds(), LatencyS: c.latencyDur.Seconds(), Records: c.records,
		MeanPayload: float64(keys+values) / n, MeanKey: float64(keys) / n, ValueMin: 1 << 30,
		Devices: devices, Partitions: partitions, StreamBudget: streamConfig().MaxBytes, Example: string(w.record(42).Value),
	}
	s.SpoolOptions = "spool.Options{} (all defaults; metrics to a private registry)"
	if c.linger > 0 {
		s.SpoolOptions = fmt.Sprintf("spool.Options{Linger: %v} (NOT the default; the rest default)", c.linger)
	}
	for i := range w.n {
		v := len(w.record(i).Value)
		s.ValueMin, s.ValueMax = min(s.ValueMin, v), max(s.ValueMax, v)
	}
	return s
}

// moduleVersions lists the versions of the storage modules measured.
func moduleVersions() map[string]string {
	out := map[string]string{}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return out
	}
	for _, d := range bi.Deps {
		if d.Path == "go.etcd.io/bbolt" || d.Path == "github.com/klauspost/compress" {
			out[d.Path] = d.Version
		}
	}
	return out
}

func (r *report) printSettings(w io.Writer) {
	s := r.Settings
	var mods []string
	for p, v := range s.Modules {
		mods = append(mods, p+" "+v)
	}
	slices.Sort(mods)
	fmt.Fprintf(w, "spoolbench: Tributary's spool against this machine's limits, measured in the same run\n\n")
	fmt.Fprintf(w, "command    %s\n", s.Command)
	fmt.Fprintf(w, "date       %s\n", s.Date)
	fmt.Fprintf(w, "platform   %s %s, NumCPU %d, GOMAXPROCS %d\n", s.GoVersion, s.Platform, s.NumCPU, s.GOMAXPROCS)
	fmt.Fprintf(w, "modules    %s\n", strings.Join(mods, ", "))
	fmt.Fprintf(w, "dir        %s (%s); a fresh temporary directory per run, removed after it\n", s.Dir, s.Filesystem)
	fmt.Fprintf(w, "workload   telemetry records: key = device id (%d devices, %.0f B), value = JSON of %d–%d B; %.1f B key+value on average\n",
		s.Devices, s.MeanKey, s.ValueMin, s.ValueMax, s.MeanPayload)
	fmt.Fprintf(w, "           e.g. %s\n", s.Example)
	fmt.Fprintf(w, "spool      stream of %d partitions, zstd (default), max_bytes %d GiB, block policy; %s\n",
		s.Partitions, s.StreamBudget>>30, s.SpoolOptions)
	fmt.Fprintf(w, "method     each figure: median (min–max) of %d run(s) after 1 warm-up; throughput runs %v, latency runs %v, %s records stored\n",
		s.Runs, r.cfg.duration, r.cfg.latencyDur, count(s.Records))
	fmt.Fprintf(w, "           load generator in the same process, not pinned: CPU-s per 1M records (getrusage, user+sys) counts it too\n")
}
