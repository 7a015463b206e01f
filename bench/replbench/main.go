// Command replbench measures replication edge → hub beside a Mosquitto
// bridge, in one run: a backlog of JSON telemetry records drained from a
// Tributary edge node to a hub (two processes of the tributary binary,
// built from this tree), the same records through an edge Mosquitto
// bridged at QoS 1 to a central one, and the latency from a producer's ack
// on the edge to the hub's commit at a fixed offered load. Bytes on the
// wire are counted by a TCP relay on each link. See bench/README.md.
package main

import (
	"io"
	"os"

	"github.com/tributary-io/tributary/bench/internal/cli"
	"github.com/tributary-io/tributary/bench/internal/figure"
)

func main() { cli.Main("replbench", parseFlags, run) }

func run(c config, args []string, out, progress io.Writer) error {
	r := &report{cfg: c, progress: progress}
	if err := r.prepare(args); err != nil {
		return err
	}
	defer os.RemoveAll(r.workDir)
	r.printSettings(out)
	if err := r.measure(); err != nil {
		return err
	}
	r.printSections(out)
	r.Verdicts = r.verdicts()
	r.printSummary(out)
	if c.jsonPath != "" {
		return figure.WriteJSON(c.jsonPath, r)
	}
	return nil
}
