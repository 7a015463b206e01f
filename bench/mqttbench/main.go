// Command mqttbench measures MQTT fan-in on the Tributary edge node and
// two peers side by side, in one run: Mosquitto (the in-memory tier: it
// acks before anything reaches disk) and plain mochi-mqtt (the broker
// Tributary embeds, without its spool). Each broker is its own process, so
// that its CPU time and memory come from /proc; one lean load generator on
// raw TCP drives them all. See bench/README.md.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/tributary-io/tributary/bench/internal/cli"
	"github.com/tributary-io/tributary/bench/internal/figure"
)

func main() { cli.Main("mqttbench", parseFlags, run) }

func run(c config, args []string, out, progress io.Writer) error {
	if c.genProfile != "" {
		stop, err := profileGenerator(c.genProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	r := &report{cfg: c, progress: progress}
	if err := r.prepare(args); err != nil {
		return err
	}
	defer os.RemoveAll(r.binDir)
	r.printSettings(out)
	if err := r.measure(out); err != nil {
		return err
	}
	r.Verdicts = r.verdicts()
	r.printSummary(out)
	if err := r.profile(out); err != nil {
		return err
	}
	if c.jsonPath != "" {
		return figure.WriteJSON(c.jsonPath, r)
	}
	return nil
}

// profileGenerator starts a CPU profile of this process: the load
// generator's own cost.
func profileGenerator(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("generator profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("generator profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
