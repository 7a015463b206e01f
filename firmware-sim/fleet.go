package firmwaresim

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// FleetOptions configure RunFleet. A zero field takes the default named in
// its comment.
type FleetOptions struct {
	// Broker is the MQTT broker's URL: tcp://HOST:PORT (also ssl://, ws://,
	// wss://). Required.
	Broker string
	// Site goes into the sensors/ and alarms/ topics. Default "plant-01".
	Site string
	// Devices are the devices to run, by profile (see Mix). Required.
	Devices []DeviceGroup
	// Rate, when set, replaces every profile's default rate (for alarms it
	// is the mean rate of a Poisson process).
	Rate Rate
	// Duration ends the run; 0 runs until ctx is cancelled.
	Duration time.Duration
	// Seed makes the devices' values, clock skews and the churn's choices
	// reproducible.
	Seed uint64
	// AtMostOnce publishes telemetry at QoS 0: nothing is acknowledged, so
	// nothing goes into the ledger. Alarms are always QoS 1. Default false:
	// QoS 1.
	AtMostOnce bool
	// Username and Password, when set, are sent on CONNECT.
	Username, Password string
	// ClientIDPrefix precedes the device id in the MQTT client id. Default
	// "sim-".
	ClientIDPrefix string
	// Churn, when set, disconnects a random device every Churn; it comes
	// back after its reconnect backoff, as after a real loss.
	Churn time.Duration
	// ClockSkew, when set, gives one device in ten a clock that is off by
	// up to ±ClockSkew (fixed per device, from the seed): its "ts" fields
	// and its daily curves follow that clock.
	ClockSkew time.Duration
	// Ledger, when set, records what the broker acknowledged and what was
	// published more than once.
	Ledger *Ledger
	// Progress, when set, is called about once a second from one
	// goroutine, and once more at the end.
	Progress func(Stats)
	// MaxBuffer is how many messages a device keeps while it cannot send;
	// when full, the oldest is dropped (and counted). Default 1000.
	MaxBuffer int
	// Window is how many QoS 1 publishes of one device may await their
	// PUBACK at once: 1 to 65535. Default 16.
	Window int
	// AckTimeout: a PUBACK that takes longer counts as a lost connection
	// (a broker that refuses a publish under MQTT 3.1.1 never answers).
	// Default 30s.
	AckTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff (with
	// full jitter) between connection attempts. Defaults 250ms and 15s.
	ReconnectMin, ReconnectMax time.Duration
	// DrainTimeout is how long, at the end, devices get to send what they
	// buffered and collect the acks in flight. Default 5s.
	DrainTimeout time.Duration
	// Logger receives connection events at debug level. Default: none.
	Logger *slog.Logger
}

var siteRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Validate checks the options, naming the field and what it allows, and
// fills in the defaults of zero fields. RunFleet calls it.
func (o *FleetOptions) Validate() error {
	u, err := url.Parse(o.Broker)
	switch {
	case o.Broker == "":
		return fmt.Errorf("fleet options: Broker is required, e.g. tcp://127.0.0.1:1883")
	case err != nil || u.Host == "":
		return fmt.Errorf("fleet options: Broker %q: want a URL such as tcp://127.0.0.1:1883", o.Broker)
	case u.Scheme != "tcp" && u.Scheme != "mqtt" && u.Scheme != "ssl" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss":
		return fmt.Errorf("fleet options: Broker %q: scheme %q; want tcp, ssl, ws or wss", o.Broker, u.Scheme)
	}
	if o.Site == "" {
		o.Site = "plant-01"
	}
	if !siteRE.MatchString(o.Site) {
		return fmt.Errorf("fleet options: Site %q: want 1 to 63 of a-z, 0-9 and '-', starting with a letter or digit", o.Site)
	}
	total := 0
	for _, g := range o.Devices {
		if _, err := ParseProfile(string(g.Profile)); err != nil {
			return fmt.Errorf("fleet options: Devices: %w", err)
		}
		if g.Count < 0 || g.Count > 9999 {
			return fmt.Errorf("fleet options: Devices: %d %s devices; want 0 to 9999 of a profile", g.Count, g.Profile)
		}
		total += g.Count
	}
	if total == 0 {
		return fmt.Errorf("fleet options: Devices: no devices to run")
	}
	if o.Rate.N > 0 && o.Rate.Interval() < time.Millisecond {
		return fmt.Errorf("fleet options: Rate %v: want at most one message a millisecond per device", o.Rate)
	}
	if o.ClientIDPrefix == "" {
		o.ClientIDPrefix = "sim-"
	}
	if o.MaxBuffer <= 0 {
		o.MaxBuffer = 1000
	}
	if o.Window <= 0 {
		o.Window = 16
	}
	if o.Window > 65535 {
		return fmt.Errorf("fleet options: Window %d: want 1 to 65535", o.Window)
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 30 * time.Second
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = 250 * time.Millisecond
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = 15 * time.Second
	}
	if o.ReconnectMax < o.ReconnectMin {
		return fmt.Errorf("fleet options: ReconnectMax %v is below ReconnectMin %v", o.ReconnectMax, o.ReconnectMin)
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Stats are a fleet's counters so far.
type Stats struct {
	Elapsed   time.Duration
	Devices   int     // devices in the fleet
	Connected int     // devices connected now
	Generated uint64  // messages the devices made
	Sent      uint64  // publishes handed to the client, resends included
	Acked     uint64  // QoS 1 publishes the broker acknowledged
	Resent    uint64  // publishes of a message sent before and not acknowledged
	Dropped   uint64  // messages dropped from a full offline buffer, never sent
	Errors    uint64  // failed connection attempts, lost connections and ack timeouts
	Churned   uint64  // disconnections made on purpose (Churn)
	AckRate   float64 // acknowledgements a second since the previous Stats
}

// Summary is what a finished run did.
type Summary struct {
	Stats
	// Unacked is how many messages were sent or buffered but not
	// acknowledged when the run ended (its drain timed out, or QoS 0).
	Unacked uint64
	// MeanAckRate is acknowledgements a second over the whole run.
	MeanAckRate float64
}

// fleet is a running RunFleet.
type fleet struct {
	opts                                                            FleetOptions
	start                                                           time.Time
	connected                                                       atomic.Int64
	everUp                                                          atomic.Bool
	generated, sent, acked, resent, dropped, errs, churned, unacked atomic.Uint64
}

// RunFleet runs the devices opts describe until opts.Duration has passed or
// ctx is cancelled, then lets them drain (opts.DrainTimeout), and returns
// what they did. Each device is one goroutine with its own MQTT connection.
// It returns an error only for invalid options, or ErrNeverConnected.
func RunFleet(ctx context.Context, opts FleetOptions) (Summary, error) {
	if err := opts.Validate(); err != nil {
		return Summary{}, err
	}
	f := &fleet{opts: opts, start: time.Now()}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if opts.Duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}
	skews := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
	var devices []*device
	for _, g := range opts.Devices {
		for i := range g.Count {
			var skew time.Duration
			if opts.ClockSkew > 0 && skews.IntN(10) == 0 {
				skew = time.Duration((2*skews.Float64() - 1) * float64(opts.ClockSkew))
			}
			devices = append(devices, newDevice(f, NewGenerator(g.Profile, opts.Site, opts.Seed, i, opts.Rate.Interval()), skew))
		}
	}
	var wg sync.WaitGroup
	for _, d := range devices {
		wg.Go(func() { d.run(runCtx) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	f.supervise(runCtx, done, devices)
	st := f.stats(len(devices), 0, 0)
	if opts.Progress != nil {
		opts.Progress(st)
	}
	s := Summary{Stats: st, Unacked: f.unacked.Load()}
	if secs := st.Elapsed.Seconds(); secs > 0 {
		s.MeanAckRate = float64(st.Acked) / secs
	}
	if !f.everUp.Load() {
		return s, fmt.Errorf("%w %s (%d attempts failed)", ErrNeverConnected, opts.Broker, st.Errors)
	}
	return s, nil
}

// supervise reports progress every second and churns connections until the
// devices are done.
func (f *fleet) supervise(ctx context.Context, done <-chan struct{}, devices []*device) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var churn <-chan time.Time
	if f.opts.Churn > 0 {
		t := time.NewTicker(f.opts.Churn)
		defer t.Stop()
		churn = t.C
	}
	pick := rand.New(rand.NewPCG(f.opts.Seed, 0xc4c4))
	lastAcked, lastAt := uint64(0), time.Now()
	for {
		select {
		case <-done:
			return
		case <-churn:
			if ctx.Err() == nil {
				devices[pick.IntN(len(devices))].kick()
			}
		case now := <-tick.C:
			st := f.stats(len(devices), lastAcked, now.Sub(lastAt))
			lastAcked, lastAt = st.Acked, now
			if f.opts.Progress != nil {
				f.opts.Progress(st)
			}
		}
	}
}

func (f *fleet) stats(devices int, lastAcked uint64, since time.Duration) Stats {
	st := Stats{
		Elapsed: time.Since(f.start), Devices: devices, Connected: int(f.connected.Load()),
		Generated: f.generated.Load(), Sent: f.sent.Load(), Acked: f.acked.Load(), Resent: f.resent.Load(),
		Dropped: f.dropped.Load(), Errors: f.errs.Load(), Churned: f.churned.Load(),
	}
	if since > 0 {
		st.AckRate = float64(st.Acked-lastAcked) / since.Seconds()
	}
	return st
}
