package firmwaresim

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// pending is a message a device made and the broker has not acknowledged.
type pending struct {
	seq     uint64
	topic   string
	payload []byte
	qos     byte
	sent    bool // published before: publishing it again is a resend
}

// flight is a publish awaiting its PUBACK.
type flight struct {
	p   pending
	tok paho.Token
	at  time.Time
}

// device is one simulated device: a generator, an MQTT connection that it
// re-establishes itself with backoff, an offline buffer and a window of
// publishes in flight. All of it belongs to the device's one goroutine
// (run); only kick is called from elsewhere.
type device struct {
	f      *fleet
	gen    *Generator
	skew   time.Duration
	jitter *rand.Rand

	buf      []pending // oldest first; at most opts.MaxBuffer
	inflight []flight  // in publish order
	client   paho.Client
	connTok  paho.Token    // a CONNECT in progress
	lost     chan struct{} // the current connection's loss
	up       bool
	backoff  time.Duration
	retry    *time.Timer // the next connection attempt
	churn    chan struct{}
}

func newDevice(f *fleet, g *Generator, skew time.Duration) *device {
	return &device{
		f: f, gen: g, skew: skew, churn: make(chan struct{}, 1),
		jitter: rand.New(rand.NewPCG(f.opts.Seed, splitmix(uint64(len(g.device))^hash(g.device)))),
	}
}

func hash(s string) uint64 {
	h := uint64(14695981039346656037) // FNV-1a
	for i := range len(s) {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// kick asks the device to drop its connection (churn). It never blocks.
func (d *device) kick() {
	select {
	case d.churn <- struct{}{}:
	default:
	}
}

// run is the device's life: connect, publish a message every interval,
// buffer while offline, reconnect after a loss; when ctx ends, drain.
func (d *device) run(ctx context.Context) {
	o := &d.f.opts
	// Devices boot within a second of each other, not all at once.
	first := time.Duration(d.jitter.Int64N(int64(min(time.Second, d.gen.interval))))
	if d.gen.profile == Alarms {
		first = d.gen.NextDelay()
	}
	next := time.NewTimer(first)
	defer next.Stop()
	d.retry = time.NewTimer(time.Duration(d.jitter.Int64N(int64(time.Second / 2))))
	defer d.retry.Stop()
	ackWatch := time.NewTimer(time.Hour)
	defer ackWatch.Stop()
	for {
		var ackDone <-chan struct{}
		if len(d.inflight) > 0 {
			ackDone = d.inflight[0].tok.Done()
			ackWatch.Reset(time.Until(d.inflight[0].at.Add(o.AckTimeout)))
		}
		var connDone <-chan struct{}
		if d.connTok != nil {
			connDone = d.connTok.Done()
		}
		select {
		case <-ctx.Done():
			d.drain()
			return
		case <-next.C:
			d.generate()
			next.Reset(d.gen.NextDelay())
			d.pump()
		case <-ackDone:
			d.collect()
			d.pump()
		case <-ackWatch.C:
			if len(d.inflight) > 0 && time.Since(d.inflight[0].at) >= o.AckTimeout {
				o.Logger.Debug("ack timeout", "device", d.gen.device, "seq", d.inflight[0].p.seq)
				d.f.errs.Add(1)
				d.drop()
			}
		case <-d.lost:
			o.Logger.Debug("connection lost", "device", d.gen.device)
			d.f.errs.Add(1)
			d.drop()
		case <-d.churn:
			if d.up {
				d.f.churned.Add(1)
				d.backoff = 0
				d.drop()
			}
		case <-connDone:
			d.connected()
			d.pump()
		case <-d.retry.C:
			d.connect()
		}
	}
}

// generate makes the next message and appends it to the buffer, dropping
// the oldest unsent one when the buffer is full.
func (d *device) generate() {
	topic, m := d.gen.Next(time.Now().Add(d.skew))
	body, err := json.Marshal(m)
	if err != nil { // a Message always marshals
		panic(err)
	}
	qos := byte(1)
	if d.f.opts.AtMostOnce && m.Code == "" {
		qos = 0
	}
	d.f.generated.Add(1)
	if len(d.buf) >= d.f.opts.MaxBuffer {
		d.buf = d.buf[1:]
		d.f.dropped.Add(1)
	}
	d.buf = append(d.buf, pending{seq: m.Seq, topic: topic, payload: body, qos: qos})
}

// pump publishes buffered messages while connected and the window allows.
func (d *device) pump() {
	for d.up && len(d.buf) > 0 && len(d.inflight) < d.f.opts.Window {
		p := d.buf[0]
		d.buf = d.buf[1:]
		if p.sent {
			// Recorded before the publish: the verifier must know of a
			// possible second copy even if the run dies right here.
			if l := d.f.opts.Ledger; l != nil {
				l.Resent(d.gen.device, p.seq)
			}
			d.f.resent.Add(1)
		}
		p.sent = true
		tok := d.client.Publish(p.topic, p.qos, false, p.payload)
		d.f.sent.Add(1)
		d.inflight = append(d.inflight, flight{p: p, tok: tok, at: time.Now()})
	}
	if len(d.buf) == 0 {
		d.buf = nil // let the backing array go
	}
}

// collect takes the completed publishes off the front of the window. A
// publish that failed means the connection is gone.
func (d *device) collect() {
	for len(d.inflight) > 0 {
		fl := d.inflight[0]
		select {
		case <-fl.tok.Done():
		default:
			return
		}
		if fl.tok.Error() != nil {
			d.f.opts.Logger.Debug("publish failed", "device", d.gen.device, "seq", fl.p.seq, "err", fl.tok.Error())
			d.f.errs.Add(1)
			d.drop()
			return
		}
		d.ack(fl.p)
		d.inflight = d.inflight[1:]
	}
}

func (d *device) ack(p pending) {
	if p.qos == 0 {
		return
	}
	if l := d.f.opts.Ledger; l != nil {
		l.Ack(d.gen.device, p.seq)
	}
	d.f.acked.Add(1)
}

// drop ends the connection: what it acknowledged is acked, the rest goes
// back to the front of the buffer, to be sent again after reconnecting.
// The next connection attempt follows after the backoff.
func (d *device) drop() {
	if d.client != nil {
		d.client.Disconnect(0)
	}
	if d.up {
		d.f.connected.Add(-1)
	}
	d.up, d.lost, d.connTok = false, nil, nil
	// Disconnect completes every token (acked, or failed) shortly after.
	deadline := time.Now().Add(2 * time.Second)
	var back []pending
	for _, fl := range d.inflight {
		if fl.tok.WaitTimeout(time.Until(deadline)) && fl.tok.Error() == nil {
			d.ack(fl.p)
			continue
		}
		if fl.p.qos == 0 {
			continue // at most once: not sent again
		}
		back = append(back, fl.p)
	}
	d.inflight = nil
	if len(back) > 0 {
		d.buf = append(back, d.buf...)
		for len(d.buf) > d.f.opts.MaxBuffer {
			d.buf = d.buf[1:]
			d.f.dropped.Add(1)
		}
	}
	d.schedule()
}

// schedule arms the next connection attempt: exponential backoff from
// ReconnectMin to ReconnectMax, with full jitter, as firmware does so that
// a fleet does not reconnect in lockstep after a broker restart.
func (d *device) schedule() {
	o := &d.f.opts
	d.backoff = min(o.ReconnectMax, max(o.ReconnectMin, 2*d.backoff))
	wait := o.ReconnectMin/2 + time.Duration(d.jitter.Int64N(int64(d.backoff)))
	d.retry.Reset(wait)
}

// connect starts a connection attempt, with a new client: paho warns that a
// client is not to be reused after Disconnect.
func (d *device) connect() {
	o := &d.f.opts
	lost := make(chan struct{}, 1)
	co := paho.NewClientOptions().AddBroker(o.Broker).
		SetClientID(o.ClientIDPrefix + d.gen.device).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).SetWriteTimeout(10 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetConnectionLostHandler(func(paho.Client, error) {
			select {
			case lost <- struct{}{}:
			default:
			}
		})
	if o.Username != "" {
		co.SetUsername(o.Username).SetPassword(o.Password)
	}
	d.client = paho.NewClient(co)
	d.connTok = d.client.Connect()
	d.lost = lost
}

// connected handles the end of a connection attempt.
func (d *device) connected() {
	tok := d.connTok
	d.connTok = nil
	if err := tok.Error(); err != nil {
		d.f.opts.Logger.Debug("connect failed", "device", d.gen.device, "err", err)
		d.f.errs.Add(1)
		d.lost = nil
		d.schedule()
		return
	}
	d.up, d.backoff = true, 0
	d.f.connected.Add(1)
	d.f.everUp.Store(true)
}

// drain ends the device's run: it sends what it buffered and waits for the
// acks in flight, reconnecting if it must, until the buffer and window are
// empty or DrainTimeout has passed, then disconnects. A duplicate is better
// than a loss, so nothing unacknowledged is given up early.
func (d *device) drain() {
	end := time.NewTimer(d.f.opts.DrainTimeout)
	defer end.Stop()
	deadline := time.Now().Add(d.f.opts.DrainTimeout)
	for len(d.buf) > 0 || len(d.inflight) > 0 {
		switch {
		case d.connTok != nil:
			if !d.connTok.WaitTimeout(time.Until(deadline)) {
				goto out
			}
			d.connected()
		case !d.up:
			if !d.f.everUp.Load() {
				goto out // no broker to drain to
			}
			select {
			case <-d.retry.C:
				d.connect()
			case <-end.C:
				goto out
			}
		default:
			d.pump()
			if len(d.inflight) > 0 && !d.inflight[0].tok.WaitTimeout(time.Until(deadline)) {
				goto out
			}
			d.collect()
		}
	}
out:
	if d.connTok != nil {
		// An attempt in progress: let it end (ConnectTimeout bounds it) so
		// that no client outlives the run.
		d.connTok.Wait()
		if d.connTok.Error() == nil {
			d.client.Disconnect(0)
		}
		d.connTok = nil
	}
	if d.up {
		d.client.Disconnect(100)
		d.f.connected.Add(-1)
		d.up = false
	}
	for _, fl := range d.inflight {
		if fl.tok.WaitTimeout(0) && fl.tok.Error() == nil {
			d.ack(fl.p)
			continue
		}
		d.f.unacked.Add(1)
	}
	d.f.unacked.Add(uint64(len(d.buf)))
}
