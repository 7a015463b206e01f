package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
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
	// Listen is the address of the plain TCP listener, e.g. ":1883"; ""
	// for none. TLS and WebSocket add listeners; at least one is needed.
	Listen    string
	TLS       *TLSListener
	WebSocket *WebSocketListener

	// Routes map topics to streams; the first that matches wins.
	Routes []Route
	// CatchAll is the stream for topics no route matches; "" drops them
	// (counted, and still delivered to local subscribers).
	CatchAll string

	// AllowAnonymous lets clients in without a username or certificate.
	AllowAnonymous bool
	// Users, if not nil, are the usernames and password hashes clients
	// may log in with. A client with a verified certificate (mutual TLS)
	// is known by the certificate's identity instead.
	Users *Users
	// ACL confines clients to topics; none: every client may use any.
	ACL []ACLRule

	// Limits. Each bounds memory or work that a client could otherwise grow
	// without end; see Options.withDefaults for the defaults.
	//
	// MaxClients bounds sessions: clients connected plus sessions kept for
	// disconnected clients. A client id that has no session yet is refused
	// (server busy) beyond it; a known one may always reconnect.
	MaxClients int
	// MaxInflight bounds the publishes of one connection that wait for the
	// spool, QoS 0 included; it is also the Receive Maximum told to MQTT 5
	// clients. A connection past it is not read until acks go out. At most
	// 65535.
	MaxInflight int
	// MaxPacketSize bounds one MQTT packet (told to MQTT 5 clients).
	MaxPacketSize int
	// MaxTopicLength bounds topic names and filters, in bytes.
	MaxTopicLength int
	// MaxMessageRate, if positive, throttles each connection to that many
	// publishes a second (bursts of up to one second's worth): its socket
	// is read no faster. Zero: no limit.
	MaxMessageRate float64
	// MaxSessionExpiry caps how long a disconnected client's session is
	// kept, whatever the client asks for.
	MaxSessionExpiry time.Duration
	// MaxWriteQueue bounds the messages queued for delivery to one
	// subscriber; past it, deliveries to that subscriber are dropped and
	// counted (what is stored is not affected).
	MaxWriteQueue int
	// MaxRetained bounds the topics holding a retained message, the
	// broker's own $SYS topics (about 20) included; a retained publish on a
	// new topic past it is stored and delivered, not retained.
	MaxRetained int
	// ConnectTimeout bounds the time from accepting a connection to its
	// CONNECT, TLS handshake included.
	ConnectTimeout time.Duration

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

	// Graceful close: once draining, new publishes are held unread until
	// the broker closes; Close waits for the publishes already taken in
	// (active: in OnPublish; queued: waiting for their answer) to be
	// answered, so that a stored publish is not left unacknowledged (its
	// client would send it again, and it would be stored twice).
	draining       atomic.Bool
	active, queued atomic.Int64
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
	for i, r := range opts.ACL {
		if err := CheckACLRule(r); err != nil {
			return nil, fmt.Errorf("ingest: ACL rule %d: %w", i, err)
		}
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
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MaxClients, 10000)
	def(&o.MaxInflight, 1024)
	def(&o.MaxPacketSize, 256<<10)
	def(&o.MaxTopicLength, 512)
	def(&o.MaxWriteQueue, 1024)
	def(&o.MaxRetained, 10000)
	if o.MaxSessionExpiry == 0 {
		o.MaxSessionExpiry = 24 * time.Hour
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.MaxInflight < 1 || o.MaxInflight > 65535:
		return o, fmt.Errorf("ingest: MaxInflight must be between 1 and 65535, got %d", o.MaxInflight)
	case o.MaxPacketSize < 1<<10:
		return o, fmt.Errorf("ingest: MaxPacketSize must be at least 1KiB, got %d", o.MaxPacketSize)
	case o.MaxClients < 1, o.MaxTopicLength < 1, o.MaxWriteQueue < 1, o.MaxRetained < 0, o.MaxMessageRate < 0:
		return o, errors.New("ingest: limits must be positive")
	case o.MaxSessionExpiry < time.Second || o.MaxSessionExpiry > math.MaxUint32*time.Second:
		return o, fmt.Errorf("ingest: MaxSessionExpiry out of range: %v", o.MaxSessionExpiry)
	case o.Listen == "" && o.TLS == nil && o.WebSocket == nil:
		return o, errors.New("ingest: no listener: set Listen, TLS or WebSocket")
	case o.TLS != nil && (o.TLS.Config == nil || o.TLS.Listen == ""):
		return o, errors.New("ingest: TLS needs Listen and Config")
	case o.WebSocket != nil && o.WebSocket.Listen == "":
		return o, errors.New("ingest: WebSocket needs Listen")
	}
	return o, nil
}

func (b *Broker) serverOptions() *mqtt.Options {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.ReceiveMaximum = uint16(b.opts.MaxInflight)
	caps.MaximumInflight = uint16(b.opts.MaxInflight)
	caps.MaximumPacketSize = uint32(b.opts.MaxPacketSize)
	caps.MaximumSessionExpiryInterval = uint32(b.opts.MaxSessionExpiry / time.Second)
	caps.MaximumClientWritesPending = int32(b.opts.MaxWriteQueue)
	// Topic aliases a client may set, each holding a topic name: mochi's
	// default of 65535 would let one client pin 65535 topics in memory.
	caps.TopicAliasMaximum = 64
	// MaxClients is enforced by our OnConnect, over sessions; mochi's own
	// check counts connected clients only.
	caps.MaximumClients = math.MaxInt64
	return &mqtt.Options{
		Capabilities: caps,
		InlineClient: true, // delivery to local subscribers after the commit
		Logger:       b.opts.Logger,
	}
}

// Start binds the listeners and serves.
func (b *Broker) Start() error {
	if err := b.listen(); err != nil {
		return fmt.Errorf("mqtt listen: %w", err)
	}
	return b.server.Serve()
}

// Addr is the plain TCP listener's bound address, once started.
func (b *Broker) Addr() string { return b.ListenerAddr(ListenerTCP) }

// ListenerAddr is the bound address of listener id (ListenerTCP,
// ListenerTLS, ListenerWS); "" if there is none.
func (b *Broker) ListenerAddr(id string) string {
	l, ok := b.server.Listeners.Get(id)
	if !ok {
		return ""
	}
	return l.Address()
}

// Close stops the listeners and the clients, then waits, up to ctx, for the
// acks of what is already queued in the spool.
func (b *Broker) Close(ctx context.Context) error {
	b.drain(ctx)
	// mochi's Close waits for every client goroutine: let ctx bound the
	// wait.
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

// maxDrain bounds the wait for answers at Close, within its context.
const maxDrain = 5 * time.Second

// drain stops taking publishes in and waits until every one taken in is
// answered (its ack written), up to maxDrain or ctx's end. Then it ends
// each connection's sending side and gives clients a moment to read their
// acks and leave: closing a socket with unread input (the publishes held
// unread) sends a reset, and a reset makes the client's kernel discard
// acks it had received but not yet read.
func (b *Broker) drain(ctx context.Context) {
	b.draining.Store(true)
	deadline := time.Now().Add(maxDrain)
	for b.active.Load() > 0 || b.queued.Load() > 0 {
		if time.Now().After(deadline) || ctx.Err() != nil {
			b.opts.Logger.Warn("closing with publishes not yet answered", "in_hook", b.active.Load(), "queued", b.queued.Load())
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.mu.Lock()
	open := 0
	for cl := range b.conns {
		if cw, ok := cl.Net.Conn.(interface{ CloseWrite() error }); ok && !cl.Closed() {
			_ = cw.CloseWrite()
			open++
		}
	}
	b.mu.Unlock()
	linger := time.Now().Add(lingerAfterDrain)
	for open > 0 && time.Now().Before(linger) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
		open = 0
		b.mu.Lock()
		for cl := range b.conns {
			if !cl.Closed() {
				open++
			}
		}
		b.mu.Unlock()
	}
}

// lingerAfterDrain bounds the wait for clients to leave after their acks.
const lingerAfterDrain = 500 * time.Millisecond

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
	tb := []byte(topic) // key and header share it
	return b.opts.CatchAll, spool.Record{Key: tb, Value: payload, Time: now,
		Headers: []spool.Header{{Key: "topic", Value: tb}}}, true, nil
}
