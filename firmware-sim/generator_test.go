package firmwaresim

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The first messages of each profile's first two devices for seed 42 are
// the ones in testdata/golden: the generators are pure functions of the
// seed, the device and the clock. Run `go test -run Golden -update` after a
// deliberate change, and read the diff.
func TestGeneratorsGolden(t *testing.T) {
	start := time.Date(2026, 11, 29, 7, 59, 58, 0, time.UTC)
	for _, p := range Profiles {
		t.Run(string(p), func(t *testing.T) {
			n := 20
			if p == Vibration {
				n = 3
			}
			var buf bytes.Buffer
			for dev := range 2 {
				g := NewGenerator(p, "plant-01", 42, dev, 0)
				at := start
				for range n {
					topic, m := g.Next(at)
					body, err := json.Marshal(m)
					if err != nil {
						t.Fatal(err)
					}
					buf.WriteString(topic + " " + string(body) + "\n")
					at = at.Add(g.NextDelay())
				}
			}
			path := filepath.Join("testdata", "golden", string(p)+".txt")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("%s differs from what the generator makes now; if the change is deliberate, run with -update\ngot:\n%.2000s", path, buf.String())
			}
		})
	}
}

// Values stay in the ranges real devices report, over a simulated day.
func TestGeneratorsPlausible(t *testing.T) {
	start := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	for dev := range 5 {
		g := NewGenerator(SmartMeter, "s", 7, dev, time.Minute)
		var lastEnergy float64
		for i := range 24 * 60 {
			topic, m := g.Next(start.Add(time.Duration(i) * time.Minute))
			if m.Seq != uint64(i) || m.Device != SmartMeter.DeviceID(dev) {
				t.Fatalf("message %d: device %s seq %d", i, m.Device, m.Seq)
			}
			if v, ok := m.Values["voltage"]; ok && m.Code == "" && (v < 215 || v > 245) {
				t.Fatalf("%s: voltage %v", topic, v)
			}
			if f, ok := m.Values["frequency"]; ok && (f < 49.94 || f > 50.06) {
				t.Fatalf("%s: frequency %v", topic, f)
			}
			if e, ok := m.Values["energy_kwh"]; ok {
				if e <= lastEnergy {
					t.Fatalf("energy register went from %v to %v", lastEnergy, e)
				}
				lastEnergy = e
			}
		}
	}
	g := NewGenerator(PMU, "s", 7, 0, 0)
	if _, m := g.Next(start); len(m.Samples) != 20 || m.Samples[0] < 225 || m.Samples[0] > 236 {
		t.Fatalf("pmu: %d samples, first %v", len(m.Samples), m.Samples)
	}
	g = NewGenerator(Alarms, "s", 7, 0, 0)
	var sum time.Duration
	for range 1000 {
		sum += g.NextDelay()
	}
	if mean := sum / 1000; mean < 50*time.Minute || mean > 70*time.Minute {
		t.Fatalf("alarms: mean wait %v, want about 1h", mean)
	}
}
