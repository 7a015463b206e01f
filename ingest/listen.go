package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Listener IDs, as mochi and the metrics know them.
const (
	ListenerTCP = "tcp"
	ListenerTLS = "tls"
	ListenerWS  = "ws"
)

// TLSListener is an MQTT-over-TLS listener. Config carries the server's
// certificate, and for mutual TLS the client CAs and ClientAuth: a client
// with a verified certificate is known by the certificate's identity.
type TLSListener struct {
	Listen string
	Config *tls.Config
}

// WebSocketListener serves MQTT over WebSocket (subprotocol "mqtt") at
// Path; with TLS set, over wss, client certificates included.
type WebSocketListener struct {
	Listen string
	Path   string
	TLS    *tls.Config
}

// listen binds the configured listeners and hands them to mochi.
func (b *Broker) listen() error {
	var ls []listeners.Listener
	closeAll := func() {
		for _, l := range ls {
			l.Close(func(string) {})
		}
	}
	add := func(id, addr string, cfg *tls.Config, ws *WebSocketListener) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return err
		}
		ln = &acceptor{Listener: ln, timeout: b.opts.ConnectTimeout, log: b.opts.Logger.With("listener", id)}
		if cfg != nil {
			ln = tls.NewListener(ln, cfg)
		}
		if ws != nil {
			ls = append(ls, newWSListener(id, ln, ws.Path, b.opts.ConnectTimeout, b.opts.Logger))
		} else {
			ls = append(ls, listeners.NewNet(id, ln))
		}
		return nil
	}
	if o := b.opts; o.Listen != "" {
		if err := add(ListenerTCP, o.Listen, nil, nil); err != nil {
			return err
		}
	}
	if t := b.opts.TLS; t != nil {
		if err := add(ListenerTLS, t.Listen, t.Config, nil); err != nil {
			return err
		}
	}
	if w := b.opts.WebSocket; w != nil {
		if err := add(ListenerWS, w.Listen, w.TLS, w); err != nil {
			return err
		}
	}
	for _, l := range ls {
		if err := b.server.AddListener(l); err != nil {
			closeAll()
			return err
		}
	}
	return nil
}

// acceptor gives every new connection a deadline to complete its TLS
// handshake and send CONNECT (mochi sets none until CONNECT, so a socket
// that sends nothing would be held forever), and keeps accepting through
// transient errors such as running out of file descriptors: mochi's accept
// loop ends at the first error, and with it the listener.
type acceptor struct {
	net.Listener
	timeout time.Duration
	log     *slog.Logger
}

func (a *acceptor) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		c, err := a.Listener.Accept()
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(a.timeout))
			return c, nil
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		a.log.Warn("mqtt accept failed; retrying", "error", err, "retry_in", backoff)
		time.Sleep(backoff)
	}
}

// wsListener serves MQTT over WebSocket on a listener of ours, so that it
// gets the same connect deadline and TLS as the TCP listeners, reports the
// address it bound, and passes client certificates on.
type wsListener struct {
	id       string
	path     string
	timeout  time.Duration // to send CONNECT after the upgrade
	ln       net.Listener
	srv      *http.Server
	upgrader websocket.Upgrader
	log      *slog.Logger
	once     sync.Once
}

func newWSListener(id string, ln net.Listener, path string, timeout time.Duration, log *slog.Logger) *wsListener {
	l := &wsListener{id: id, ln: ln, log: log, timeout: timeout,
		upgrader: websocket.Upgrader{
			Subprotocols: []string{"mqtt"},
			// Devices and their libraries send no Origin, or one of their
			// own; a browser page on another site is not a threat to a
			// broker that authenticates every client.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
	if path == "" {
		path = "/mqtt"
	}
	l.path = path
	// The handler is set in Serve, once mochi hands over establish.
	l.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	return l
}

func (l *wsListener) ID() string                  { return l.id }
func (l *wsListener) Address() string             { return l.ln.Addr().String() }
func (l *wsListener) Protocol() string            { return "ws" }
func (l *wsListener) Init(log *slog.Logger) error { return nil }

func (l *wsListener) Serve(establish listeners.EstablishFn) {
	l.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != l.path {
			http.NotFound(w, r)
			return
		}
		c, err := l.upgrader.Upgrade(w, r, nil)
		if err != nil {
			return // the upgrader answered
		}
		// net/http lifted the read deadline once the headers were in.
		_ = c.UnderlyingConn().SetDeadline(time.Now().Add(l.timeout))
		wc := &wsConn{Conn: c.UnderlyingConn(), ws: c, tls: r.TLS}
		// establish returns once the client is in (the carried mochi reads
		// its packets in a goroutine of its own) or refused; the client
		// closes the connection when it ends.
		if err := establish(l.id, wc); err != nil {
			l.log.Debug("websocket client refused", "error", err)
		}
	})
	if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("websocket listener stopped", "error", err)
	}
}

func (l *wsListener) Close(closeClients listeners.CloseFn) {
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = l.srv.Shutdown(ctx) // hijacked connections are the clients'
	})
	closeClients(l.id)
}

// wsConn is a WebSocket connection as the net.Conn mochi reads MQTT from:
// MQTT packets may span binary messages and messages may hold several.
type wsConn struct {
	net.Conn
	ws  *websocket.Conn
	r   io.Reader
	tls *tls.ConnectionState
	wmu sync.Mutex
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			op, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, errors.New("websocket: MQTT needs binary messages")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ConnectionState is the TLS state of a wss connection, for client
// certificate identities; ok is false over plain ws.
func (c *wsConn) ConnectionState() (tls.ConnectionState, bool) {
	if c.tls == nil {
		return tls.ConnectionState{}, false
	}
	return *c.tls, true
}

// connState is the TLS state of a client's connection, if it has one.
func connState(c net.Conn) (tls.ConnectionState, bool) {
	switch c := c.(type) {
	case *tls.Conn:
		return c.ConnectionState(), true
	case *wsConn:
		return c.ConnectionState()
	}
	return tls.ConnectionState{}, false
}
