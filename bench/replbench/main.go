// Command replbench measures replication edge → hub beside a Mosquitto
// bridge, in one run: a backlog of JSON telemetry records drained from a
// Tributary edge node to a hub (two processes of the tributary binary,
// built from this tree), the same records through an edge Mosquitto
// bridged at QoS 1 to a central one, and the latency from a producer's ack
// on the edge to the hub's commit at a fixed offered load. Bytes on the
// wire are counted by a TCP relay on each link. See bench/README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tributary-io/tributary/bench/internal/figure"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "replbench:", err)
		os.Exit(1)
	}
}

func run(args []string, out, progress io.Writer) error {
	c, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
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
