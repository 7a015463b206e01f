package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	firmwaresim "github.com/tributary-io/tributary/firmware-sim"
	"github.com/tributary-io/tributary/gateway/config"
)

const demoSynopsis = `tributary demo [--dir DIR] [--devices N] [--rate 1/s] [--profile mix] [--chaos] [--duration D] [--kafka BROKERS]

Starts a hub, an edge node that forwards to it, and a simulated fleet of
devices publishing to the edge over MQTT, all in this process on localhost,
with data under --dir. A status line every few seconds shows the ingest rate,
the edge's spool, the replication lag and the records at the hub. Ctrl-C (or
--duration) stops the fleet, lets replication drain, checks with the verifier
that every acknowledged reading is at the hub exactly once, and prints the
verdict. With --chaos the edge→hub link is cut and the edge restarted now and
then, to show store-and-forward catching up.

With --kafka the hub writes into that Kafka cluster (replication.sink: kafka)
instead of keeping the data itself, in topics named for this run
(tributary-demo-RUN-STREAM, checkpoints in tributary-demo-RUN-checkpoints):
the devices count from 0 again each run, so a run never reads an earlier one's
records. The verifier then reads those topics at read_committed.

Exit codes: 0 the verifier found every acknowledged reading at the hub exactly
once; 1 it did not, or something failed; 2 a usage error.`

type demoOptions struct {
	dir      string
	devices  int
	rate     string
	profile  string
	chaos    bool
	duration time.Duration
	status   time.Duration
	seed     uint64
	every    time.Duration // mean time between chaos events
	kafka    []string      // --kafka: the hub's sink is Kafka at these brokers
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o demoOptions
	fs := newFlagSet("demo", demoSynopsis, stderr)
	fs.StringVar(&o.dir, "dir", "tributary-demo", "directory for the demo's data (hub, edge, ledger); created if missing")
	fs.IntVar(&o.devices, "devices", 50, "simulated devices, each its own MQTT connection")
	fs.StringVar(&o.rate, "rate", "", "messages per device, e.g. 1/s, 10/s, 2/m (default: each profile's own)")
	fs.StringVar(&o.profile, "profile", "mix", "device profile: smart-meter, pmu, vibration, env, alarms or mix")
	fs.BoolVar(&o.chaos, "chaos", false, "cut the edge→hub link and restart the edge now and then")
	fs.DurationVar(&o.every, "chaos-every", 15*time.Second, "with --chaos: mean time between events")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (default: at Ctrl-C)")
	fs.DurationVar(&o.status, "status", 3*time.Second, "how often to print the status line")
	fs.Uint64Var(&o.seed, "seed", 1, "the fleet's seed: its values are reproducible")
	brokers := fs.String("kafka", "", "the hub writes into Kafka at these comma-separated seed brokers, host:port, in topics of this run's own")
	if err := parseFlags(fs, args); err != nil {
		return finish(stderr, err)
	}
	if *brokers != "" {
		var err error
		if o.kafka, err = parseBrokers(*brokers); err != nil {
			return finish(stderr, usageError{fmt.Errorf("demo: %w", err)})
		}
	}
	if o.devices < 1 || o.devices > 5000 {
		return finish(stderr, usageError{fmt.Errorf("demo: --devices %d: want 1 to 5000", o.devices)})
	}
	if o.status <= 0 || o.every <= 0 {
		return finish(stderr, usageError{errors.New("demo: --status and --chaos-every must be positive")})
	}
	groups, rate, err := demoFleet(o)
	if err != nil {
		return finish(stderr, usageError{fmt.Errorf("demo: %w", err)})
	}
	ok, err := demo(ctx, o, groups, rate, stdout)
	var uerr usageError
	if errors.As(err, &uerr) {
		return finish(stderr, usageError{fmt.Errorf("demo: %w", uerr.err)})
	}
	if err != nil {
		return finish(stderr, fmt.Errorf("demo: %w", err))
	}
	if !ok {
		return exitFailure
	}
	return exitOK
}

func demoFleet(o demoOptions) ([]firmwaresim.DeviceGroup, firmwaresim.Rate, error) {
	var rate firmwaresim.Rate
	if o.rate != "" {
		var err error
		if rate, err = firmwaresim.ParseRate(o.rate); err != nil {
			return nil, rate, fmt.Errorf("--rate: %w", err)
		}
	}
	if o.profile == "mix" {
		return firmwaresim.Mix(o.devices), rate, nil
	}
	p, err := firmwaresim.ParseProfile(o.profile)
	if err != nil {
		return nil, rate, fmt.Errorf("--profile: %w", err)
	}
	return []firmwaresim.DeviceGroup{{Profile: p, Count: o.devices}}, rate, nil
}

// demo runs the demo until ctx ends or the duration passes; ok is the
// verifier's verdict.
func demo(ctx context.Context, o demoOptions, groups []firmwaresim.DeviceGroup, rate firmwaresim.Rate, out io.Writer) (bool, error) {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return false, err
	}
	fresh, err := prepareDemoDir(dir)
	if err != nil {
		return false, err
	}
	hubCfg := demoHubConfig(dir)
	var kafka *demoKafka
	if o.kafka != nil {
		k := newDemoKafka(o.kafka, time.Now())
		if err := k.reachable(ctx); err != nil {
			return false, err
		}
		k.configure(&hubCfg)
		kafka = &k
	}
	hub, err := startNode(hubCfg)
	if err != nil {
		return false, err
	}
	stopCtx := context.WithoutCancel(ctx)
	defer func() {
		sctx, cancel := context.WithTimeout(stopCtx, 10*time.Second)
		defer cancel()
		_ = hub.Shutdown(sctx)
	}()
	lnk, err := newLink(hub.ReplicationAddr().String())
	if err != nil {
		return false, err
	}
	defer lnk.close()
	edgeCfg := demoEdgeConfig(dir, lnk.addr())
	n, err := startNode(edgeCfg)
	if err != nil {
		return false, err
	}
	pin(&edgeCfg, n)
	edge := &edgeNode{cfg: edgeCfg, node: n, up: true}
	defer func() {
		sctx, cancel := context.WithTimeout(stopCtx, 10*time.Second)
		defer cancel()
		_ = edge.shutdown(sctx)
	}()
	view, err := newDemoView(edgeCfg.GRPC.Listen, hub.GRPCAddr().String())
	if err != nil {
		return false, err
	}
	defer view.close()

	ledgerPath := filepath.Join(dir, "sim-ledger.txt")
	fmt.Fprint(out, demoBanner(o, kafka, dir, ledgerPath, edgeCfg, hub.HTTPAddr().String(), hub.GRPCAddr().String(), fresh))

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(runCtx, o.duration)
		defer cancel()
	}
	ledger := firmwaresim.NewLedger(demoSite)
	var (
		mu   sync.Mutex
		last firmwaresim.Stats
	)
	fleetDone := make(chan struct{})
	var sum firmwaresim.Summary
	var fleetErr error
	go func() {
		defer close(fleetDone)
		sum, fleetErr = firmwaresim.RunFleet(runCtx, firmwaresim.FleetOptions{
			Broker:       "tcp://" + edgeCfg.MQTT.Listen,
			Site:         demoSite,
			Devices:      groups,
			Rate:         rate,
			Seed:         o.seed,
			Ledger:       ledger,
			ReconnectMax: 2 * time.Second,
			Progress: func(s firmwaresim.Stats) {
				mu.Lock()
				last = s
				mu.Unlock()
			},
		})
	}()
	var chaosWG sync.WaitGroup
	events := make(chan string, 16)
	if o.chaos {
		chaosWG.Go(func() { chaos(runCtx, o, lnk, edge, events) })
	}
	saveLedger := time.NewTicker(5 * time.Second)
	defer saveLedger.Stop()
	tick := time.NewTicker(o.status)
	defer tick.Stop()
	start := time.Now()
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case <-fleetDone:
			break loop
		case e := <-events:
			fmt.Fprintf(out, "%s  chaos: %s\n", elapsed(start), e)
		case <-saveLedger.C:
			_ = ledger.WriteFile(ledgerPath)
		case <-tick.C:
			mu.Lock()
			s := last
			mu.Unlock()
			fmt.Fprintf(out, "%s  %s\n", elapsed(start), statusLine(s, view.read(stopCtx), edge.isUp(), kafka != nil))
		}
	}
	stop()
	chaosWG.Wait()
	<-fleetDone
	lnk.restore()
	if fleetErr != nil {
		return false, fmt.Errorf("fleet: %w", fleetErr)
	}
	if err := ledger.WriteFile(ledgerPath); err != nil {
		return false, fmt.Errorf("ledger: %w", err)
	}
	fmt.Fprintf(out, "fleet stopped: %d devices, %d sent, %d acknowledged, %d resent after a lost connection, %d unacknowledged\n",
		sum.Devices, sum.Sent, sum.Acked, sum.Resent, sum.Unacked)
	fmt.Fprintln(out, "waiting for the hub to catch up, then verifying…")
	vo := firmwaresim.VerifyOptions{Until: 2 * time.Minute, Quiet: 10 * time.Second}
	var rep *firmwaresim.Report
	if kafka != nil {
		// Kafka cannot tell the verifier the replication lag, and Quiet
		// alone would end its wait while a reconnecting edge still holds
		// records: wait for the lag the hub and the edge tell first.
		if lag := view.waitCaughtUp(stopCtx, vo.Until); lag != 0 {
			fmt.Fprintf(out, "the hub has not caught up within %v (lag %d records); verifying what Kafka holds\n", vo.Until, lag)
		}
		rep, err = kafka.verify(stopCtx, ledger, vo)
	} else {
		rep, err = firmwaresim.Verify(stopCtx, view.hub, ledger, vo)
	}
	if err != nil {
		return false, fmt.Errorf("verify: %w", err)
	}
	fmt.Fprintln(out, rep.Summary())
	if !rep.OK() {
		_ = rep.WriteDetails(out, 10)
	}
	if kafka != nil {
		fmt.Fprintf(out, "ledger kept in %s, records in Kafka (run %s); check again any time: %s\n", dir, kafka.run, kafka.verifyCommand(ledgerPath))
	} else {
		fmt.Fprintf(out, "data kept in %s; check again any time: tributary verify --ledger %s --addr HUB (while a hub runs on it)\n", dir, ledgerPath)
	}
	return rep.OK(), nil
}

// demoBanner is what the demo prints at the start: what runs where, and
// commands to look around.
func demoBanner(o demoOptions, kafka *demoKafka, dir, ledgerPath string, edgeCfg config.Config, hubHTTP, hubGRPC, fresh string) string {
	var b strings.Builder
	hub, hubAPI, data := "a hub", "(/metrics, /v1/sites, /v1/streams)", dir
	if kafka != nil {
		hub, hubAPI, data = "a hub writing into Kafka", "(/metrics, /v1/sites)", dir+"   (the edge's spool and the ledger)"
	}
	fmt.Fprintf(&b, `Tributary demo: %s, an edge node (site %s) and %d simulated devices, on this machine.
  data          %s
  MQTT (edge)   tcp://%s   anonymous; try: mosquitto_sub -h %s -p %s -t 'sensors/#' -v
  edge          http://%s  (/metrics, /v1/streams, POST /v1/streams/telemetry/records)   gRPC %s
  hub           http://%s  %s   gRPC %s
`, hub, demoSite, o.devices, data, edgeCfg.MQTT.Listen, hostOf(edgeCfg.MQTT.Listen), portOf(edgeCfg.MQTT.Listen),
		edgeCfg.HTTP.Listen, edgeCfg.GRPC.Listen, hubHTTP, hubAPI, hubGRPC)
	if kafka != nil {
		b.WriteString(kafka.banner(hubGRPC, ledgerPath))
	} else {
		fmt.Fprintf(&b, "  look around   tributary sites --addr %s\n                tributary tail telemetry --addr %s --follow\n", hubGRPC, hubGRPC)
	}
	fmt.Fprintf(&b, "  ledger        %s\n%sCtrl-C stops the fleet, lets the hub catch up and checks every acknowledged reading arrived exactly once.\n",
		ledgerPath, fresh)
	return b.String()
}

// chaos cuts the link and restarts the edge, in turn, at random moments
// about o.every apart, until ctx ends; it leaves the link up and the edge
// running.
func chaos(ctx context.Context, o demoOptions, lnk *link, edge *edgeNode, events chan<- string) {
	rng := rand.New(rand.NewPCG(o.seed, 7))
	say := func(format string, args ...any) {
		select {
		case events <- fmt.Sprintf(format, args...):
		default:
		}
	}
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for i := 0; ; i++ {
		if !wait(o.every/2 + time.Duration(rng.Int64N(int64(o.every)))) {
			return
		}
		if i%2 == 0 {
			down := 2*time.Second + time.Duration(rng.Int64N(int64(4*time.Second)))
			say("link to the hub cut for %s; the edge keeps storing", down.Round(100*time.Millisecond))
			lnk.cut()
			ok := wait(down)
			lnk.restore()
			if !ok {
				return
			}
			say("link restored; the backlog drains")
			continue
		}
		say("restarting the edge node (graceful: what is queued is acked first)")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := edge.restart(sctx)
		cancel()
		if err != nil {
			say("edge restart failed: %v", err)
			return
		}
		say("edge node back; devices reconnect")
	}
}

// statusLine is one status line; inKafka: the hub's records are in Kafka.
func statusLine(s firmwaresim.Stats, f figures, edgeUp, inKafka bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "devices %d/%d  acked %d (%.0f/s)", s.Connected, s.Devices, s.Acked, s.AckRate)
	if f.edgeBytes >= 0 {
		fmt.Fprintf(&b, "  edge spool %s", humanBytes(f.edgeBytes))
	} else if !edgeUp {
		b.WriteString("  edge restarting")
	}
	switch {
	case f.lag < 0:
		b.WriteString("  lag ?")
	case !f.connected:
		fmt.Fprintf(&b, "  lag %d records (link down)", f.lag)
	default:
		fmt.Fprintf(&b, "  lag %d records", f.lag)
	}
	switch {
	case f.hubRecords < 0:
	case inKafka:
		fmt.Fprintf(&b, "  in Kafka %d", f.hubRecords)
	default:
		fmt.Fprintf(&b, "  at hub %d", f.hubRecords)
	}
	return b.String()
}

func elapsed(start time.Time) string {
	d := time.Since(start).Round(time.Second)
	return fmt.Sprintf("[%02d:%02d]", int(d.Minutes()), int(d.Seconds())%60)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func hostOf(addr string) string { h, _, _ := strings.Cut(addr, ":"); return h }

func portOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	return addr[i+1:]
}

// demoMarker marks a directory as the demo's, so that a new run may clear
// it: the devices count their messages from 0 again, and the verifier would
// take the last run's records at the hub for duplicates.
const demoMarker = ".tributary-demo"

// prepareDemoDir makes dir, or clears the previous demo's data in it. A
// directory with other content is refused, never cleared. The returned
// line says what was done.
func prepareDemoDir(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return "", err
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, demoMarker)); err != nil {
			return "", usageError{fmt.Errorf("--dir %s holds other files; give an empty or new directory", dir)}
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return "", err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, demoMarker), nil, 0o640); err != nil {
			return "", err
		}
		return "  (the previous demo's data in it was cleared: each run starts fresh)\n", nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	return "", os.WriteFile(filepath.Join(dir, demoMarker), nil, 0o640)
}
