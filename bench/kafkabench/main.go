// Command kafkabench measures the hub writing into Kafka beside the same
// hub writing into its own spool, in one run (issue 8): an edge's backlog
// of JSON telemetry records drained through the replication protocol into
// a hub whose sink is its spool (fsync before ack), and into the same hub
// whose sink is Kafka in transactions, zstd-compressed, as the default
// config writes it. The Kafka is franz-go's kfake, in a process of its
// own on this machine: in memory, or with its data directory and an fsync
// per produced batch. After every run the destination is read back and
// must hold exactly the records the edge stored. See bench/README.md.
package main

import (
	"io"
	"os"

	"github.com/tributary-io/tributary/bench/internal/cli"
	"github.com/tributary-io/tributary/bench/internal/figure"
)

func main() {
	if mode := os.Getenv(brokerEnv); mode != "" {
		brokerChild(mode) // never returns
	}
	cli.Main("kafkabench", parseFlags, run)
}

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
	r.printResults(out)
	if c.jsonPath != "" {
		return figure.WriteJSON(c.jsonPath, r)
	}
	return nil
}
