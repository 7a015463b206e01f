package firmwaresim

import (
	"math"
	"math/rand/v2"
	"time"
)

// Generator makes the messages of one device. It is deterministic: the same
// profile, seed, index and interval give the same messages for the same
// times, so a run can be replayed and tests can compare with golden files.
// Readings are rounded to what such a device reports (e.g. volts to 0.01),
// which also hides the last-bit differences that fused multiply-adds make
// between CPU architectures.
//
// A Generator is not safe for concurrent use.
type Generator struct {
	profile  Profile
	device   string
	site     string
	seed     uint64
	interval time.Duration
	rng      *rand.Rand
	waits    *rand.Rand // alarms' waits, apart so that values do not depend on when NextDelay is called
	seq      uint64
	tick     uint64

	// Smart meter.
	ratedKW, pf, vDrift, energyKWh float64
	faultTicks                     int
	// PMU.
	angle, lastFreq float64
	// Vibration.
	rpm, wear float64
	// Environment.
	tempDrift, humDrift float64
	// Alarm panel: the codes raised and not cleared yet.
	active []int
}

// alarmCodes are an alarm panel's codes and their severities.
var alarmCodes = []struct{ code, severity string }{
	{"BREAKER_TRIP", "critical"},
	{"GROUND_FAULT", "critical"},
	{"TRANSFORMER_OVERTEMP", "major"},
	{"UPS_ON_BATTERY", "major"},
	{"SF6_LOW_PRESSURE", "major"},
	{"DOOR_OPEN", "minor"},
	{"SMOKE_DETECTED", "critical"},
}

// NewGenerator returns the generator of the profile's device index
// (0-based) at site. interval is the time between its messages (for
// alarms, the mean); zero means the profile's default.
func NewGenerator(p Profile, site string, seed uint64, index int, interval time.Duration) *Generator {
	if interval <= 0 {
		interval = p.DefaultInterval()
	}
	pi := uint64(0)
	for i, q := range Profiles {
		if q == p {
			pi = uint64(i)
		}
	}
	g := &Generator{
		profile: p, device: p.DeviceID(index), site: site, seed: seed, interval: interval,
		rng:   rand.New(rand.NewPCG(seed, splitmix(pi<<32|uint64(index)))),
		waits: rand.New(rand.NewPCG(seed, splitmix(pi<<32|uint64(index))^0xa1a1)),
	}
	r := g.rng
	switch p {
	case SmartMeter:
		g.ratedKW = 3 + 12*r.Float64() // a household to a small shop
		g.pf = 0.92 + 0.06*r.Float64()
		g.energyKWh = 1000 + 49000*r.Float64()
	case Vibration:
		g.rpm = []float64{1480, 2960, 990, 740}[r.IntN(4)] // 4-, 2-, 6- and 8-pole motors at 50 Hz
		g.wear = 0.02 * r.Float64()
	case Env:
		g.tempDrift = r.NormFloat64()
		g.humDrift = 3 * r.NormFloat64()
	}
	return g
}

// Device is the generator's device id.
func (g *Generator) Device() string { return g.device }

// Profile is the generator's profile.
func (g *Generator) Profile() Profile { return g.profile }

// NextDelay is the time to wait before the next message: the interval,
// except for alarms, whose waits are exponential with the interval as mean.
func (g *Generator) NextDelay() time.Duration {
	if g.profile == Alarms {
		return time.Duration(g.waits.ExpFloat64() * float64(g.interval))
	}
	return g.interval
}

// Next returns the device's next message, with the device's next sequence
// number, read at time t (the device's clock), and the topic to publish it
// on.
func (g *Generator) Next(t time.Time) (topic string, m Message) {
	t = t.UTC().Truncate(time.Millisecond)
	m = Message{Device: g.device, Seq: g.seq, Time: t, Profile: string(g.profile)}
	g.seq++
	defer func() { g.tick++ }()
	switch g.profile {
	case SmartMeter:
		return g.meter(t, &m)
	case PMU:
		return g.pmu(t, &m)
	case Vibration:
		return g.vibration(t, &m)
	case Env:
		return g.env(t, &m)
	default:
		return g.alarm(&m)
	}
}

func (g *Generator) sensorTopic(kind string) string {
	return "sensors/" + g.site + "/" + g.device + "/" + kind
}

func (g *Generator) alarmTopic() string { return "alarms/" + g.site + "/" + g.device }

// meter: voltage around 230 V with a slow drift, active power following a
// daily load curve, the grid's frequency, and an energy register that only
// counts up. Every 15th message is the register; now and then a voltage
// sag begins, which the meter reports as an alarm.
func (g *Generator) meter(t time.Time, m *Message) (string, Message) {
	r := g.rng
	hours := g.interval.Hours()
	kw := math.Max(0.05, g.ratedKW*loadCurve(t)*(1+0.05*r.NormFloat64()))
	g.energyKWh += kw * hours
	g.vDrift = 0.98*g.vDrift + 0.3*r.NormFloat64()
	v := 230 + g.vDrift - 0.15*kw + 0.3*r.NormFloat64()
	if g.faultTicks > 0 {
		g.faultTicks--
		v *= 0.75 + 0.1*r.Float64()
	} else if r.Float64() < 1.0/20000 { // a sag about every 5.5 h at 1/s
		g.faultTicks = 2 + r.IntN(8)
		m.Code, m.Severity = "VOLTAGE_SAG", "major"
		m.Values = map[string]float64{"active": 1, "voltage": round(v*0.8, 2)}
		return g.alarmTopic(), *m
	}
	if g.tick%15 == 14 {
		m.Values = map[string]float64{"energy_kwh": round(g.energyKWh, 3)}
		return g.sensorTopic("energy"), *m
	}
	pf := math.Min(0.999, g.pf+0.005*r.NormFloat64())
	m.Values = map[string]float64{
		"voltage":             round(v, 2),
		"current":             round(kw*1000/(v*pf), 3),
		"active_power_kw":     round(kw, 3),
		"reactive_power_kvar": round(kw*math.Tan(math.Acos(pf)), 3),
		"frequency":           round(gridFrequency(g.seed, t)+0.002*r.NormFloat64(), 3),
	}
	return g.sensorTopic("power"), *m
}

// pmuFrameRate is the PMU's reporting rate, frames a second (50 Hz grid).
const pmuFrameRate = 50

// pmu: synchrophasors at 50 frames/s, sent as one message per interval
// (10 frames at the default 200 ms). Samples holds the frames' positive
// sequence voltage as magnitude (kV), angle (degrees) pairs; the angle turns
// with the grid frequency's distance from 50 Hz.
func (g *Generator) pmu(t time.Time, m *Message) (string, Message) {
	r := g.rng
	frames := max(1, min(3000, int(math.Round(g.interval.Seconds()*pmuFrameRate))))
	m.Samples = make([]float64, 0, 2*frames)
	var f float64
	for k := range frames {
		ft := t.Add(time.Duration(k) * time.Second / pmuFrameRate)
		f = gridFrequency(g.seed, ft)
		g.angle = math.Remainder(g.angle+360*(f-50)/pmuFrameRate, 360)
		mag := 230.94*(1+0.002*math.Sin(2*math.Pi*ft.Sub(ft.Truncate(time.Hour)).Hours())) + 0.05*r.NormFloat64()
		m.Samples = append(m.Samples, round(mag, 3), round(g.angle+0.01*r.NormFloat64(), 3))
	}
	rocof := 0.0
	if g.tick > 0 {
		rocof = (f - g.lastFreq) / g.interval.Seconds()
	}
	g.lastFreq = f
	m.Values = map[string]float64{"frequency": round(f, 4), "rocof": round(rocof, 4), "frame_rate": pmuFrameRate, "frames": float64(frames)}
	return g.sensorTopic("phasor"), *m
}

// vibrationSampleRate is a vibration burst's sample rate, Hz.
const vibrationSampleRate = 2560

// vibration: a burst of 256, 512 or 1024 acceleration samples (g) from a
// motor: its running speed and twice it, a bearing defect tone that grows
// as the bearing wears, and noise.
func (g *Generator) vibration(_ time.Time, m *Message) (string, Message) {
	r := g.rng
	n := 256 << r.IntN(3)
	g.wear = math.Min(1, g.wear+0.0005*r.Float64())
	f1 := g.rpm / 60
	p1, p2, p3 := 2*math.Pi*r.Float64(), 2*math.Pi*r.Float64(), 2*math.Pi*r.Float64()
	m.Samples = make([]float64, n)
	var sum2, peak float64
	for i := range n {
		x := float64(i) / vibrationSampleRate
		a := 0.3*math.Sin(2*math.Pi*f1*x+p1) + 0.1*math.Sin(4*math.Pi*f1*x+p2) +
			g.wear*math.Sin(2*math.Pi*3.58*f1*x+p3) + 0.05*r.NormFloat64()
		a = round(a, 4)
		m.Samples[i] = a
		sum2 += a * a
		peak = math.Max(peak, math.Abs(a))
	}
	m.Values = map[string]float64{"rpm": g.rpm, "sample_rate_hz": vibrationSampleRate,
		"rms_g": round(math.Sqrt(sum2/float64(n)), 4), "peak_g": round(peak, 4)}
	return "vibration/" + g.device + "/burst", *m
}

// env: temperature and humidity with a daily swing and a slow drift.
func (g *Generator) env(t time.Time, m *Message) (string, Message) {
	r := g.rng
	g.tempDrift = 0.995*g.tempDrift + 0.05*r.NormFloat64()
	g.humDrift = 0.995*g.humDrift + 0.2*r.NormFloat64()
	day := 2 * math.Pi * (hourOfDay(t) - 9) / 24
	temp := 22 + 3*math.Sin(day) + g.tempDrift + 0.05*r.NormFloat64()
	hum := math.Min(100, math.Max(5, 45-8*math.Sin(day)+g.humDrift+0.2*r.NormFloat64()))
	m.Values = map[string]float64{"temperature_c": round(temp, 2), "humidity_pct": round(hum, 1)}
	return g.sensorTopic("climate"), *m
}

// alarm: raise a new alarm, or clear one that is active.
func (g *Generator) alarm(m *Message) (string, Message) {
	r := g.rng
	if len(g.active) > 0 && r.IntN(2) == 0 {
		i := r.IntN(len(g.active))
		c := alarmCodes[g.active[i]]
		g.active = append(g.active[:i], g.active[i+1:]...)
		m.Code, m.Severity = c.code, c.severity
		m.Values = map[string]float64{"active": 0}
		return g.alarmTopic(), *m
	}
	i := r.IntN(len(alarmCodes))
	g.active = append(g.active, i)
	m.Code, m.Severity = alarmCodes[i].code, alarmCodes[i].severity
	m.Values = map[string]float64{"active": 1}
	return g.alarmTopic(), *m
}

// loadCurve is the share of a meter's rated power drawn at t: a night
// base, a morning peak at 08:00 and a higher evening one at 19:00 (UTC,
// the device's clock).
func loadCurve(t time.Time) float64 {
	h := hourOfDay(t)
	return 0.3 + 0.3*math.Exp(-(h-8)*(h-8)/4) + 0.55*math.Exp(-(h-19)*(h-19)/5)
}

// gridFrequency is the grid's frequency at t, the same for every device of
// a seed: 50 Hz with slow swings that stay within ±0.05 Hz.
func gridFrequency(seed uint64, t time.Time) float64 {
	s := float64(t.UnixNano()%(86400*int64(time.Second))) / float64(time.Second)
	ph := float64(seed%1000) / 1000 * 2 * math.Pi
	return 50 + 0.03*math.Sin(2*math.Pi*s/600+ph) + 0.015*math.Sin(2*math.Pi*s/47+2*ph)
}

func hourOfDay(t time.Time) float64 {
	h, m, s := t.Clock()
	return float64(h) + float64(m)/60 + float64(s)/3600
}

// round rounds x to d decimals. The explicit conversion keeps the compiler
// from fusing the multiply into the rounding (an FMA on arm64).
func round(x float64, d int) float64 {
	p := math.Pow10(d)
	return math.Round(float64(x*p)) / p
}

// splitmix spreads a small number over 64 bits (SplitMix64's finaliser),
// so that devices' random streams do not start alike.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
