package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-io/tributary/spool"
)

// Appender is what ingest needs of the spool: an append whose callback
// runs once the records are durable (or have failed), and must not block.
type Appender interface {
	AppendAsync(ctx context.Context, stream string, recs []spool.Record, done func(spool.Result)) error
}

// Options configure the MQTT broker. Zero values take the defaults.
type Options struct {
	// Listen is the TCP address of the MQTT listener, e.g. ":1883".
	Listen string
	// Routes map topics to streams; the first that matches wins.
	Routes []Route
	// CatchAll is the stream for topics no route matches; "" drops them
	// (counted, and still delivered to local subscribers).
	CatchAll string
	// MaxInflight bounds the publishes of one connection that wait for the
	// spool, QoS 0 included; it is also the Receive Maximum told to MQTT 5
	// clients. A connection past it is not read until acks go out. Default
	// 1024, at most 65535.
	MaxInflight int
	// MaxPacketSize bounds one MQTT packet. Default 256KiB.
	MaxPacketSize int
	// AllowAnonymous lets every client connect. Until authentication lands
	// it must be set, or every connection is refused.
	AllowAnonymous bool
	// Logger; nil discards. Registerer receives the metrics; nil: none.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Broker is the embedded MQTT broker: what clients publish on a routed topic
// is appended to the spool, acknowledged once durable, and then delivered
// to local subscribers.
type Broker struct {
	opts   Options
	app    Appender
	server *mqtt.Server
	routes []*route
	m      *metrics
	ctx    context.Context // ends at Close: unblocks appends waiting for room
	cancel context.CancelFunc

	mu    sync.Mutex
	conns map[*mqtt.Client]*conn
	wg    sync.WaitGroup // ackers
}

// New builds a broker that appends to app. Nothing listens until Start.
func New(opts Options, app Appender) (*Broker, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Broker{opts: opts, app: app, conns: map[*mqtt.Client]*conn{}}
	for _, r := range opts.Routes {
		c, err := compileRoute(r)
		if err != nil {
			return nil, err
		}
		b.routes = append(b.routes, c)
	}
	if b.m, err = newMetrics(opts.Registerer); err != nil {
		return nil, err
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.server = mqtt.New(b.serverOptions())
	if err := b.server.AddHook(&hook{b: b}, nil); err != nil {
		return nil, err
	}
	return b, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxInflight == 0 {
		o.MaxInflight = 1024
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = 256 << 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.MaxInflight < 1 || o.MaxInflight > 65535:
		return o, fmt.Errorf("ingest: MaxInflight must be between 1 and 65535, got %d", o.MaxInflight)
	case o.MaxPacketSize < 1<<10:
		return o, fmt.Errorf("ingest: MaxPacketSize must be at least 1KiB, got %d", o.MaxPacketSize)
	case o.Listen == "":
		return o, errors.New("ingest: Listen is required")
	}
	return o, nil
}

func (b *Broker) serverOptions() *mqtt.Options {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.ReceiveMaximum = uint16(b.opts.MaxInflight)
	caps.MaximumInflight = uint16(b.opts.MaxInflight)
	caps.MaximumPacketSize = uint32(b.opts.MaxPacketSize)
	caps.MaximumSessionExpiryInterval = 24 * 60 * 60
	return &mqtt.Options{
		Capabilities: caps,
		InlineClient: true, // delivery to local subscribers after the commit
		Logger:       b.opts.Logger,
	}
}

// Start binds the listener and serves.
func (b *Broker) Start() error {
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: b.opts.Listen})
	if err := b.server.AddListener(tcp); err != nil {
		return fmt.Errorf("mqtt listen %s: %w", b.opts.Listen, err)
	}
	return b.server.Serve()
}

// Addr is the MQTT listener's bound address, once started.
func (b *Broker) Addr() string {
	l, ok := b.server.Listeners.Get("tcp")
	if !ok {
		return ""
	}
	return l.Address()
}

// Close stops the listener and the clients, then waits, up to ctx, for the
// acks of what is already queued in the spool.
func (b *Broker) Close(ctx context.Context) error {
	// mochi's Close waits for every client goroutine, including a
	// connection that never sent CONNECT (mochi sets it no deadline): let
	// ctx bound the wait.
	done := make(chan struct{})
	b.cancel() // read loops waiting for room in the spool give up
	go func() {
		_ = b.server.Close()
		b.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("ingest: clients or acks still pending at shutdown: %w", ctx.Err())
	}
	b.m.unregister()
	return err
}

// route finds the stream and record for a publish. ok is false when no
// route matches and there is no catch-all stream.
func (b *Broker) route(topic string, payload []byte, now time.Time) (stream string, rec spool.Record, ok bool, err error) {
	for _, r := range b.routes {
		if hs, match := r.match(topic); match {
			rec, err := r.record(topic, payload, hs, now)
			return r.Stream, rec, true, err
		}
	}
	if b.opts.CatchAll == "" {
		return "", spool.Record{}, false, nil
	}
	return b.opts.CatchAll, spool.Record{Key: []byte(topic), Value: payload, Time: now,
		Headers: []spool.Header{{Key: "topic", Value: []byte(topic)}}}, true, nil
}
