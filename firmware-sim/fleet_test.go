package firmwaresim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/eclipse/paho.mqtt.golang.(*router).matchAndDispatch"))
}

// recorder is a broker hook that lets every client in and records every
// publish it receives, by device and seq. With killEvery > 0 it drops the
// connection of every killEvery-th publish after recording it and before
// acknowledging it: the broker has the message, the device never hears so.
type recorder struct {
	mqtt.HookBase
	killEvery int

	mu     sync.Mutex
	n      int
	got    map[string][]uint64 // in arrival order, duplicates kept
	topics map[string]string   // device → a topic it used
	bad    []string
}

func (r *recorder) ID() string { return "recorder" }

func (r *recorder) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnPublish
}

func (r *recorder) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }
func (r *recorder) OnACLCheck(*mqtt.Client, string, bool) bool              { return true }

func (r *recorder) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	dev, seq, err := ParseIdentity(pk.Payload)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.bad = append(r.bad, pk.TopicName+": "+err.Error())
		return pk, nil
	}
	r.got[dev] = append(r.got[dev], seq)
	r.topics[dev] = pk.TopicName
	r.n++
	if r.killEvery > 0 && r.n%r.killEvery == 0 {
		cl.Stop(errors.New("test: connection killed before the ack"))
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

func startBroker(t *testing.T, rec *recorder) string {
	t.Helper()
	_, addr := startBrokerAt(t, rec, "127.0.0.1:0")
	return "tcp://" + addr
}

// startBrokerAt starts a broker on addr with rec as its hook, and returns
// its address and a function that stops it (once).
func startBrokerAt(t *testing.T, rec *recorder, addr string) (stop func(), bound string) {
	t.Helper()
	if rec.got == nil {
		rec.got, rec.topics = map[string][]uint64{}, map[string]string{}
	}
	s := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.AddHook(rec, nil); err != nil {
		t.Fatal(err)
	}
	ln := listeners.NewTCP(listeners.Config{ID: "t", Address: addr})
	if err := s.AddListener(ln); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	stop = sync.OnceFunc(func() { s.Close() })
	t.Cleanup(stop)
	return stop, ln.Address()
}

// check asserts what a user of the ledger relies on: every acknowledged
// message reached the broker; each device's messages at the broker are 0..N
// without holes; a seq the broker holds twice is one the ledger says was
// resent.
func (r *recorder) check(t *testing.T, l *Ledger) (received, dups int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		t.Fatalf("messages without identity: %v", r.bad[:min(3, len(r.bad))])
	}
	for dev, seqs := range r.got {
		seen := map[uint64]int{}
		for _, s := range seqs {
			seen[s]++
		}
		top := slices.Max(seqs)
		for s := range top + 1 {
			switch n := seen[s]; {
			case n == 0:
				t.Errorf("%s: seq %d missing at the broker (it has up to %d)", dev, s, top)
			case n > 1:
				dups += n - 1
				if !l.IsResent(dev, s) {
					t.Errorf("%s: seq %d received %d times, but the ledger does not say it was resent", dev, s, n)
				}
			}
		}
		received += len(seen)
	}
	for _, dev := range l.Devices() {
		for _, rg := range l.Acked(dev) {
			for s := rg.First; s <= rg.Last; s++ {
				if !slices.Contains(r.got[dev], s) {
					t.Fatalf("%s: seq %d acknowledged but never received", dev, s)
				}
			}
		}
	}
	return received, dups
}

func TestFleetDeliversAndKeepsALedger(t *testing.T) {
	rec := &recorder{}
	broker := startBroker(t, rec)
	ledger := NewLedger("plant-09")
	var progress []Stats
	sum, err := RunFleet(context.Background(), FleetOptions{
		Broker: broker, Site: "plant-09", Devices: Mix(8), Rate: Rate{N: 20, Per: time.Second},
		Duration: 1500 * time.Millisecond, Seed: 1, Ledger: ledger,
		Progress: func(s Stats) { progress = append(progress, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", sum)
	received, dups := rec.check(t, ledger)
	if sum.Acked < 100 || sum.Acked != ledger.AckedCount() || uint64(received) != sum.Acked || dups != 0 {
		t.Fatalf("acked %d, ledger %d, received %d (%d twice); want the same, at least 100",
			sum.Acked, ledger.AckedCount(), received, dups)
	}
	if sum.Unacked != 0 || sum.Resent != 0 || sum.Dropped != 0 || sum.Errors != 0 || sum.Connected != 0 {
		t.Fatalf("a clean run left %+v", sum)
	}
	if len(progress) < 2 || progress[0].Connected != 8 || progress[0].Devices != 8 {
		t.Fatalf("progress: %+v", progress)
	}
	for dev, topic := range map[string]string{
		"meter-0001": "sensors/plant-09/meter-0001/", "pmu-0001": "sensors/plant-09/pmu-0001/phasor",
		"vib-0001": "vibration/vib-0001/burst", "env-0001": "sensors/plant-09/env-0001/climate",
	} {
		if got := rec.topics[dev]; len(got) < len(topic) || got[:len(topic)] != topic {
			t.Errorf("%s published on %q, want %s…", dev, got, topic)
		}
	}
	path := filepath.Join(t.TempDir(), "ledger.txt")
	if err := ledger.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if ledger.write(&a) != nil || back.write(&b) != nil || a.String() != b.String() {
		t.Fatalf("ledger round trip:\n%s\nvs\n%s", a.String(), b.String())
	}
}

// The broker drops a connection after taking a publish and before
// acknowledging it, every 25 publishes, and a device is churned every
// 200ms: devices reconnect, send again what was not acknowledged, and say so
// in the ledger before they do.
func TestFleetResendsAfterConnectionLoss(t *testing.T) {
	rec := &recorder{killEvery: 25}
	broker := startBroker(t, rec)
	ledger := NewLedger("plant-01")
	sum, err := RunFleet(context.Background(), FleetOptions{
		Broker: broker, Devices: []DeviceGroup{{SmartMeter, 4}, {PMU, 2}}, Rate: Rate{N: 25, Per: time.Second},
		Duration: 2 * time.Second, Seed: 2, Ledger: ledger, Churn: 200 * time.Millisecond,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", sum)
	received, dups := rec.check(t, ledger)
	if sum.Resent == 0 || dups == 0 || sum.Errors == 0 || sum.Churned == 0 {
		t.Fatalf("no resends, duplicates, errors or churn: %+v, %d duplicates", sum, dups)
	}
	if sum.Unacked != 0 || sum.Dropped != 0 || uint64(received) != sum.Acked {
		t.Fatalf("received %d distinct, acked %d, unacked %d, dropped %d: want every message acked once drained",
			received, sum.Acked, sum.Unacked, sum.Dropped)
	}
}

// The broker stops for half a second and comes back on the same port: the
// devices buffer meanwhile, reconnect with backoff, and deliver everything.
func TestFleetSurvivesBrokerRestart(t *testing.T) {
	rec := &recorder{}
	stopFirst, addr := startBrokerAt(t, rec, "127.0.0.1:0")
	ledger := NewLedger("plant-01")
	type result struct {
		sum Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := RunFleet(context.Background(), FleetOptions{
			Broker: "tcp://" + addr, Devices: []DeviceGroup{{SmartMeter, 5}, {Env, 2}}, Rate: Rate{N: 20, Per: time.Second},
			Duration: 2500 * time.Millisecond, Seed: 3, Ledger: ledger,
			ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		})
		done <- result{sum, err}
	}()
	time.Sleep(800 * time.Millisecond)
	stopFirst()
	time.Sleep(500 * time.Millisecond)
	startBrokerAt(t, rec, addr)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("%+v", r.sum)
	received, _ := rec.check(t, ledger)
	if r.sum.Errors == 0 || r.sum.Unacked != 0 || r.sum.Dropped != 0 || uint64(received) != r.sum.Acked || r.sum.Acked != r.sum.Generated {
		t.Fatalf("after a restart: %+v, %d received; want errors, and every message acked", r.sum, received)
	}
}

// Offline, a device keeps at most MaxBuffer messages, drops the oldest and
// counts them; no broker at all is ErrNeverConnected.
func TestFleetBuffersWhileOffline(t *testing.T) {
	sum, err := RunFleet(context.Background(), FleetOptions{
		Broker: "tcp://127.0.0.1:1", Devices: []DeviceGroup{{SmartMeter, 2}}, Rate: Rate{N: 50, Per: time.Second},
		Duration: 500 * time.Millisecond, MaxBuffer: 5, ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond,
		DrainTimeout: 100 * time.Millisecond,
	})
	if !errors.Is(err, ErrNeverConnected) {
		t.Fatalf("err %v, want ErrNeverConnected", err)
	}
	if sum.Generated < 20 || sum.Dropped != sum.Generated-10 || sum.Unacked != 10 || sum.Sent != 0 || sum.Errors == 0 {
		t.Fatalf("offline run: %+v; want all but 2×5 dropped, 10 unacked", sum)
	}
}

func TestFleetOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		o    FleetOptions
		want string
	}{
		{FleetOptions{Devices: Mix(1)}, "Broker is required"},
		{FleetOptions{Broker: "http://x:1", Devices: Mix(1)}, `scheme "http"`},
		{FleetOptions{Broker: "tcp://x:1"}, "no devices"},
		{FleetOptions{Broker: "tcp://x:1", Devices: Mix(1), Site: "Plant 1"}, "Site"},
		{FleetOptions{Broker: "tcp://x:1", Devices: []DeviceGroup{{"kettle", 1}}}, `unknown profile "kettle"`},
	} {
		if _, err := RunFleet(context.Background(), tc.o); err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("%+v: err %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestParseRateAndMix(t *testing.T) {
	for in, want := range map[string]time.Duration{"1/s": time.Second, "10/s": 100 * time.Millisecond, "2/m": 30 * time.Second, "1/15m": 15 * time.Minute} {
		r, err := ParseRate(in)
		if err != nil || r.Interval() != want || r.String() != in {
			t.Errorf("ParseRate(%q) = %v (%v), %v; want interval %v", in, r, r.Interval(), err, want)
		}
	}
	for _, bad := range []string{"", "1", "0/s", "x/s", "1/fortnight", "10000/s", "1/48h"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q): no error", bad)
		}
	}
	for _, n := range []int{1, 3, 5, 7, 100, 500} {
		total, groups := 0, Mix(n)
		for _, g := range groups {
			total += g.Count
			if n >= 5 && g.Count == 0 {
				t.Errorf("Mix(%d): no %s", n, g.Profile)
			}
		}
		if total != n {
			t.Errorf("Mix(%d) = %v", n, groups)
		}
	}
}

// Hundreds of devices at 1/s are cheap: one goroutine each, timers, no busy
// loops; they all connect and every message is acknowledged.
func TestFleetOfHundreds(t *testing.T) {
	if testing.Short() {
		t.Skip("300 connections")
	}
	rec := &recorder{}
	broker := startBroker(t, rec)
	maxConnected := 0
	sum, err := RunFleet(context.Background(), FleetOptions{
		Broker: broker, Devices: []DeviceGroup{{SmartMeter, 300}}, Duration: 2500 * time.Millisecond, Seed: 4,
		Progress: func(s Stats) { maxConnected = max(maxConnected, s.Connected) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", sum)
	if maxConnected != 300 || sum.Acked != sum.Generated || sum.Generated < 600 || sum.Errors != 0 {
		t.Fatalf("300 devices: at most %d connected, %+v", maxConnected, sum)
	}
}
