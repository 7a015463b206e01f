package replwork

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/tributary-io/tributary/bench/internal/host"
	"github.com/tributary-io/tributary/spool"
)

// Machine is the head of a program's settings: the command and the machine
// it ran on.
type Machine struct {
	Command    string `json:"command"`
	Date       string `json:"date"`
	GoVersion  string `json:"go_version"`
	Platform   string `json:"goos_goarch"`
	NumCPU     int    `json:"num_cpu"`
	Filesystem string `json:"filesystem"`
}

// NewMachine describes this run of bench/prog with args, its data in dir.
func NewMachine(prog string, args []string, dir string) Machine {
	return Machine{Command: strings.TrimSpace("go run ./bench/" + prog + " " + strings.Join(args, " ")),
		Date: time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		NumCPU: runtime.NumCPU(), Filesystem: host.FSKind(dir)}
}

// Backlog describes the workload and the edge spool filled with it.
type Backlog struct {
	MeanPayload float64 `json:"mean_payload_bytes"`
	MinPayload  int     `json:"min_payload_bytes"`
	MaxPayload  int     `json:"max_payload_bytes"`
	Example     string  `json:"example_payload"`
	StoredBytes int64   `json:"edge_stored_bytes"`
	FillSeconds float64 `json:"fill_s"`
}

// Describe records recs' payload sizes and an example.
func (b *Backlog) Describe(recs []spool.Record) {
	b.MeanPayload, b.MinPayload, b.MaxPayload = payloadStats(recs)
	b.Example = string(recs[min(42, len(recs)-1)].Value)
}

// Fill fills a new spool in dir with recs (FillSpool) and records the
// bytes it stores and the time it took.
func (b *Backlog) Fill(dir string, recs []spool.Record, fillBatch int) error {
	t0 := time.Now()
	var err error
	if b.StoredBytes, err = FillSpool(dir, recs, fillBatch); err != nil {
		return err
	}
	b.FillSeconds = time.Since(t0).Seconds()
	return nil
}

// PrintWorkload prints the settings line of a workload of records from
// devices.
func (b Backlog) PrintWorkload(w io.Writer, records, devices int) {
	fmt.Fprintf(w, "workload   %d records, %d devices (key = device id), JSON %.1f bytes mean (%d–%d), e.g. %s\n",
		records, devices, b.MeanPayload, b.MinPayload, b.MaxPayload, b.Example)
}

// Step prints a progress line, stamped with the time since began.
func Step(w io.Writer, began time.Time, format string, args ...any) {
	fmt.Fprintf(w, "[%5.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
}

// LoadAvg is the machine's 1, 5 and 15 minute load average, or "n/a".
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// TreeVersion names the commit the tree at root is at, with "+dirty" if it
// has changes, or "this tree" if git cannot tell.
func TreeVersion(root string) string {
	b, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty=+dirty").Output()
	if err != nil {
		return "this tree"
	}
	return "commit " + strings.TrimSpace(string(b))
}

// ValidateBacklog checks the settings every replication benchmark has.
func ValidateBacklog(runs, records, devices, fillBatch int) error {
	switch {
	case runs < 1:
		return fmt.Errorf("invalid -runs %d: at least 1", runs)
	case records < 1000:
		return fmt.Errorf("invalid -records %d: at least 1000", records)
	case devices < 1 || devices > 1_000_000:
		return fmt.Errorf("invalid -devices %d: 1 to 1000000", devices)
	case fillBatch < 1 || fillBatch > 20000:
		return fmt.Errorf("invalid -fill-batch %d: 1 to 20000 (a batch must fit in one 4 MiB commit)", fillBatch)
	}
	return nil
}
