// Command tributary is the one Tributary binary: the edge node, the hub, and
// the tools around them. Run `tributary help` for the subcommands.
//
// Exit codes: 0 success; 1 a runtime failure (a listener could not bind, a
// drain did not finish in time) or, for verify, problems found; 2 a usage or
// configuration error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default behaviour so that a
		// second Ctrl-C kills a shutdown that hangs.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"demo", "hub, edge and a simulated fleet in one process: tributary demo [--chaos]", runDemo},
		{"edge", "run an edge node: tributary edge -c FILE", runNode("edge")},
		{"hub", "run a hub: tributary hub -c FILE", runNode("hub")},
		{"config", "check a config file: tributary config validate -c FILE", runConfig},
		{"spool", "inspect a spool: tributary spool check|stat --dir DIR", runSpool},
		{"tail", "print a stream's records from a node: tributary tail STREAM --addr HOST:PORT [--follow]", runTail},
		{"verify", "check a hub against the simulator's ledger: tributary verify --ledger FILE --addr HUB:PORT | --kafka BROKERS (exit 1: problems)", runVerify},
		{"passwd", "set an MQTT user's password: tributary passwd -f FILE -u USER", runPasswd},
		{"token", "make an API token (ingest and reads): tributary token new NAME [--streams a,b]", runToken},
		{"sim", "run a simulated sensor fleet: tributary sim --broker tcp://HOST:1883 --profile P --devices N", runSim},
		{"sites", "show a hub's sites and their lag: tributary sites --addr HUB:PORT", runSites},
		{"version", "print the version, commit, Go version and platform", runVersion},
	}
}

// run dispatches args to a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "tributary: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Tributary: an edge-to-core streaming gateway.")
	fmt.Fprintln(w, "\nUsage: tributary COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `tributary COMMAND -h` for a command's flags.")
}

// usageError marks an error that is the user's to fix (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode maps an error to an exit code.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	default:
		return exitFailure
	}
}
