package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	firmwaresim "github.com/tributary-io/tributary/firmware-sim"
)

// simPasswordEnv holds the MQTT password when --password is not given, so
// that it need not show in the process list.
const simPasswordEnv = "TRIBUTARY_SIM_PASSWORD"

// runSim runs a simulated fleet against a broker: `tributary sim --broker
// tcp://HOST:1883 --profile smart-meter --devices 500 --rate 1/s --duration
// 10m`. Progress goes to stderr every second, the summary to stdout.
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return finish(stderr, sim(ctx, args, stdout, stderr))
}

func sim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sim", "tributary sim --broker tcp://HOST:1883 --profile PROFILE --devices N [--rate 1/s] [--duration 10m] [flags]", stderr)
	o := firmwaresim.FleetOptions{}
	fs.StringVar(&o.Broker, "broker", "tcp://127.0.0.1:1883", "the MQTT broker: tcp://, ssl://, ws:// or wss://HOST:PORT")
	fs.StringVar(&o.Site, "site", "plant-01", "the site id in the sensors/ and alarms/ topics")
	profile := fs.String("profile", "smart-meter", "smart-meter, pmu, vibration, env, alarms, or mix (all of them, in a site's usual shares)")
	devices := fs.Int("devices", 10, "how many devices")
	rate := fs.String("rate", "", "messages per device: N/s, N/m, N/h or N/DURATION (1/s, 10/s, 2/m, 1/15m); default: the profile's own")
	fs.DurationVar(&o.Duration, "duration", 0, "how long to run; 0: until Ctrl-C")
	fs.Uint64Var(&o.Seed, "seed", 1, "the seed of the values, clock skews and churn")
	qos := fs.Int("qos", 1, "QoS of telemetry, 0 or 1 (alarms are always 1; QoS 0 is not acknowledged, so not in the ledger)")
	ledgerPath := fs.String("ledger", "sim-ledger.txt", "where to write the ledger of acknowledged messages (every 5 s and at the end); \"\" for none")
	fs.StringVar(&o.Username, "username", "", "MQTT username")
	fs.StringVar(&o.Password, "password", "", "MQTT password (or $"+simPasswordEnv+")")
	fs.StringVar(&o.ClientIDPrefix, "client-id-prefix", "sim-", "prefix of each device's MQTT client id")
	fs.DurationVar(&o.Churn, "churn", 0, "disconnect a random device this often (e.g. 30s); 0: never")
	fs.DurationVar(&o.ClockSkew, "clock-skew", 0, "give one device in ten a clock off by up to this much (e.g. 2m)")
	fs.IntVar(&o.MaxBuffer, "max-buffer", 1000, "messages a device keeps while offline; the oldest are dropped beyond")
	var lf logFlags
	lf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	o.Logger = log
	if o.Password == "" {
		o.Password = os.Getenv(simPasswordEnv)
	}
	switch *qos {
	case 0:
		o.AtMostOnce = true
	case 1:
	default:
		return usageError{fmt.Errorf("sim: --qos %d: want 0 or 1", *qos)}
	}
	if *devices < 1 {
		return usageError{fmt.Errorf("sim: --devices %d: want at least 1", *devices)}
	}
	if *profile == "mix" {
		o.Devices = firmwaresim.Mix(*devices)
	} else {
		p, err := firmwaresim.ParseProfile(*profile)
		if err != nil {
			return usageError{fmt.Errorf("sim: --profile: %w", err)}
		}
		o.Devices = []firmwaresim.DeviceGroup{{Profile: p, Count: *devices}}
	}
	if *rate != "" {
		if o.Rate, err = firmwaresim.ParseRate(*rate); err != nil {
			return usageError{fmt.Errorf("sim: --rate: %w", err)}
		}
	}
	if err := o.Validate(); err != nil {
		return usageError{fmt.Errorf("sim: %w", err)}
	}
	var ledgerErr error
	if *ledgerPath != "" {
		o.Ledger = firmwaresim.NewLedger(o.Site)
		// Fail before the run, not after it, if the ledger cannot be written.
		if ledgerErr = o.Ledger.WriteFile(*ledgerPath); ledgerErr != nil {
			return usageError{fmt.Errorf("sim: --ledger: %w", ledgerErr)}
		}
	}
	calls := 0
	o.Progress = func(s firmwaresim.Stats) {
		fmt.Fprintf(stderr, "sim: %s connected %d/%d sent %d acked %d (%.1f/s) resent %d dropped %d errors %d\n",
			s.Elapsed.Round(time.Second), s.Connected, s.Devices, s.Sent, s.Acked, s.AckRate, s.Resent, s.Dropped, s.Errors)
		if calls++; o.Ledger != nil && calls%5 == 0 {
			if err := o.Ledger.WriteFile(*ledgerPath); err != nil && ledgerErr == nil {
				fmt.Fprintf(stderr, "sim: writing the ledger: %v\n", err)
				ledgerErr = err
			}
		}
	}
	sum, runErr := firmwaresim.RunFleet(ctx, o)
	if runErr != nil && !errors.Is(runErr, firmwaresim.ErrNeverConnected) {
		return usageError{fmt.Errorf("sim: %w", runErr)}
	}
	if o.Ledger != nil {
		ledgerErr = o.Ledger.WriteFile(*ledgerPath)
	}
	printSummary(stdout, o, sum, *ledgerPath)
	if runErr != nil {
		return fmt.Errorf("sim: %w; is a broker listening there, and does it take these credentials?", runErr)
	}
	if ledgerErr != nil {
		return fmt.Errorf("sim: writing the ledger: %w", ledgerErr)
	}
	return nil
}

func printSummary(w io.Writer, o firmwaresim.FleetOptions, s firmwaresim.Summary, ledgerPath string) {
	var groups []string
	for _, g := range o.Devices {
		if g.Count > 0 {
			groups = append(groups, fmt.Sprintf("%s %d", g.Profile, g.Count))
		}
	}
	fmt.Fprintf(w, "devices    %d (%s) at %s, rate %s\n", s.Devices, strings.Join(groups, ", "), o.Broker, o.Rate)
	fmt.Fprintf(w, "ran        %s\n", s.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "generated  %d\n", s.Generated)
	fmt.Fprintf(w, "sent       %d (resends included)\n", s.Sent)
	fmt.Fprintf(w, "acked      %d (%.1f/s)\n", s.Acked, s.MeanAckRate)
	fmt.Fprintf(w, "resent     %d (sent again after a lost connection)\n", s.Resent)
	fmt.Fprintf(w, "dropped    %d (offline buffer full, never sent)\n", s.Dropped)
	fmt.Fprintf(w, "unacked    %d (not acknowledged when the run ended)\n", s.Unacked)
	fmt.Fprintf(w, "errors     %d (failed connects, lost connections, ack timeouts)\n", s.Errors)
	fmt.Fprintf(w, "churned    %d\n", s.Churned)
	if o.Ledger != nil {
		fmt.Fprintf(w, "ledger     %s (%d devices, %d acked)\n", ledgerPath, len(o.Ledger.Devices()), o.Ledger.AckedCount())
	}
}
