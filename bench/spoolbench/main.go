// Command spoolbench measures Tributary's spool against the physical limits
// of the machine it runs on, in the same run: disk sync latency, raw bbolt
// put rate and zstd speed, then the spool's durable append throughput,
// commit latency at a fixed load, bytes written per payload byte, replay
// rate and open time. See bench/README.md.
package main

import (
	"io"

	"github.com/tributary-io/tributary/bench/internal/cli"
	"github.com/tributary-io/tributary/bench/internal/figure"
)

func main() { cli.Main("spoolbench", parseFlags, run) }

func run(c config, args []string, out, progress io.Writer) error {
	w := newWorkload(poolSize)
	r := &report{cfg: c, Settings: newSettings(c, w, args), progress: progress}
	r.printSettings(out)
	if err := r.measure(w, out); err != nil {
		return err
	}
	r.Verdicts = r.verdicts()
	r.printSummary(out)
	if c.jsonPath != "" {
		if err := figure.WriteJSON(c.jsonPath, r); err != nil {
			return err
		}
	}
	return r.profile(w)
}
