package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/tributary-io/tributary/aggregator"
	"github.com/tributary-io/tributary/forwarder"
	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/ingest"
	"github.com/tributary-io/tributary/spool"
)

// Node is one running Tributary node, edge or hub.
type Node struct {
	cfg     config.Config
	log     *slog.Logger
	reg     *prometheus.Registry
	ready   readiness
	started time.Time // guarded by lnMu

	httpSrv *http.Server
	grpcSrv *grpc.Server
	lnMu    sync.Mutex // guards httpLn and grpcLn, set by Start
	httpLn  net.Listener
	grpcLn  net.Listener
	health  *health.Server
	spool   *spool.Spool         // set by Start
	mqtt    *ingest.Broker       // set by Start when the config has an MQTT listener
	api     *ingest.API          // the HTTP/gRPC ingest API; nil on a hub
	auth    readAuth             // who may read, with the tokens ingest takes too
	repl    *replication         // a hub's replication service; set by Start when configured
	fwd     *forwarder.Forwarder // an edge's forwarder; set by Start when configured
	fwdStop context.CancelFunc
	fwdDone chan struct{}
	// kafkaWriter serves the forwarder in process when it writes
	// straight to Kafka (upstream.kafka); set by startForwarder.
	kafkaWriter *kafkaWriter
	agg         *aggregator.Aggregator // the edge's pipelines; set by Start when configured
	aggDone     chan error             // Run's result
	requests    *prometheus.CounterVec // tributary_http_requests_total
	serveErr    chan error             // one send per listener whose Serve failed
	wg          sync.WaitGroup
	stopping    atomic.Bool
	// stopCtx ends when Shutdown begins, so that long-polling reads answer
	// at once instead of holding up the drain.
	stopCtx   context.Context
	stopReads context.CancelFunc
}

// New checks cfg and builds a node from it. Nothing is bound or written until
// Start. A nil logger discards logs.
func New(cfg config.Config, log *slog.Logger) (*Node, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("invalid config: %w", config.Errors(errs))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		cfg:      cfg,
		log:      log.With("role", string(cfg.Role)),
		serveErr: make(chan error, 3),
	}
	n.stopCtx, n.stopReads = context.WithCancel(context.Background())
	n.reg = newRegistry(cfg)
	var err error
	if n.requests, err = newHTTPMetrics(n.reg); err != nil {
		return nil, err
	}
	if n.auth, err = newAPIAuth(cfg.HTTP); err != nil {
		return nil, err
	}
	if n.api, err = n.newIngestAPI(); err != nil {
		return nil, err
	}
	n.health = health.NewServer()
	n.setServing(false)
	grpcTLS, err := cfg.GRPC.TLS.TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("grpc.tls: %w", err)
	}
	n.grpcSrv = n.newGRPCServer(grpcTLS)
	httpTLS, err := cfg.HTTP.TLS.TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("http.tls: %w", err)
	}
	httpHandler, err := n.newHTTPHandler()
	if err != nil {
		return nil, err
	}
	n.httpSrv = &http.Server{
		TLSConfig:         httpTLS, // nil: plain HTTP
		Handler:           httpHandler,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout.Std(),
		MaxHeaderBytes:    int(cfg.HTTP.MaxHeaderBytes),
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	return n, nil
}

// Start prepares the data directory and opens the spool (a hub whose sink is
// Kafka has neither), binds the listeners and starts serving.
// It returns once the node accepts connections; the node reports ready then.
func (n *Node) Start() error {
	// What is started is undone, in reverse, if a later step fails.
	var undo []func()
	var sp *spool.Spool
	if !n.stateless() {
		if err := prepareDataDir(n.cfg.DataDir); err != nil {
			return err
		}
		var err error
		if sp, err = n.openSpool(); err != nil {
			return err
		}
		undo = append(undo, func() { sp.Close() })
	}
	fail := func(err error) error {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return err
	}
	httpLn, err := net.Listen("tcp", n.cfg.HTTP.Listen)
	if err != nil {
		return fail(fmt.Errorf("http.listen %s: %w", n.cfg.HTTP.Listen, err))
	}
	undo = append(undo, func() { httpLn.Close() })
	grpcLn, err := net.Listen("tcp", n.cfg.GRPC.Listen)
	if err != nil {
		return fail(fmt.Errorf("grpc.listen %s: %w", n.cfg.GRPC.Listen, err))
	}
	undo = append(undo, func() { grpcLn.Close() })
	repl, err := n.startReplication(sp)
	if err != nil {
		return fail(err)
	}
	if repl != nil {
		// stop ends the gRPC server; the listener it never served is
		// closed here.
		undo = append(undo, func() { repl.stop(context.Background()); repl.ln.Close() })
	}
	// The forwarder starts before ingest: its cursors must protect the
	// first record taken in.
	if n.fwd, err = n.startForwarder(sp); err != nil {
		return fail(fmt.Errorf("upstream: %w", err))
	}
	undo = append(undo, func() { _ = n.stopForwarder(); n.fwd = nil })
	// The pipelines start before ingest too, for the same reason, and
	// after the forwarder, which forwards what they derive.
	if n.agg, err = n.startAggregator(sp); err != nil {
		return fail(fmt.Errorf("pipelines: %w", err))
	}
	undo = append(undo, func() { _ = n.stopAggregator(); n.agg = nil })
	broker, err := n.startMQTT(sp)
	if err != nil {
		return fail(fmt.Errorf("mqtt: %w", err))
	}
	n.ready.set("spool", nil)
	n.lnMu.Lock()
	n.httpLn, n.grpcLn = httpLn, grpcLn
	n.spool, n.mqtt, n.repl = sp, broker, repl
	n.started = time.Now()
	n.lnMu.Unlock()
	n.serve("http", func() error {
		if n.httpSrv.TLSConfig != nil {
			return n.httpSrv.ServeTLS(httpLn, "", "") // the certificate is in TLSConfig
		}
		return n.httpSrv.Serve(httpLn)
	})
	n.serve("grpc", func() error { return n.grpcSrv.Serve(grpcLn) })
	if repl != nil {
		n.serve("replication", func() error { return repl.gs.Serve(repl.ln) })
	}
	n.ready.set("serving", nil)
	n.setServing(true)
	if n.api != nil && !n.cfg.HTTP.AllowAnonymous && n.cfg.HTTP.TokensFile == "" {
		n.log.Warn("ingest over HTTP and gRPC refuses every request: set http.tokens_file, or http.allow_anonymous")
	}
	if n.auth.tokens == nil && (!config.IsLoopback(n.cfg.HTTP.Listen) || !config.IsLoopback(n.cfg.GRPC.Listen)) {
		n.log.Warn("reads over HTTP and gRPC need no token, and http.listen or grpc.listen is not on loopback: anyone who reaches it reads every stream; set http.tokens_file")
	}
	where := []any{"data_dir", n.cfg.DataDir, "streams", len(n.cfg.Streams)}
	if sp != nil {
		where = append(where, "spool_epoch", sp.Epoch())
	} else {
		where = []any{"kafka", strings.Join(n.cfg.Replication.Kafka.Brokers, ",")}
	}
	n.log.Info("node started", append([]any{"site", n.cfg.Site}, append(where,
		"http", n.HTTPAddr().String(), "grpc", n.GRPCAddr().String(), "mqtt", n.MQTTAddr(),
		"mqtt_tls", n.MQTTListenerAddr(ingest.ListenerTLS), "mqtt_ws", n.MQTTListenerAddr(ingest.ListenerWS),
		"replication", n.ReplicationAddr(), "upstream", n.upstreamName())...)...)
	return nil
}

// stateless says the node keeps nothing on disk: a hub whose sink is Kafka
// has neither a data directory nor a spool, and its streams are Kafka's.
func (n *Node) stateless() bool {
	return n.cfg.Role == config.RoleHub && n.cfg.Replication.Sink == config.SinkKafka
}

// upstreamName says where an edge forwards to, for the log.
func (n *Node) upstreamName() string {
	if k := n.cfg.Upstream.Kafka.Brokers; len(k) > 0 {
		return "kafka " + strings.Join(k, ",")
	}
	return n.cfg.Upstream.Hub
}

// serve runs fn in a goroutine owned by the node; an error other than a
// normal close is reported on serveErr.
func (n *Node) serve(name string, fn func() error) {
	n.wg.Go(func() {
		err := fn()
		if err == nil || errors.Is(err, http.ErrServerClosed) || n.stopping.Load() {
			return
		}
		n.serveErr <- fmt.Errorf("%s server: %w", name, err)
	})
}

// MQTTAddr is the bound address of the plain MQTT listener, or "" when
// there is none.
func (n *Node) MQTTAddr() string { return n.MQTTListenerAddr(ingest.ListenerTCP) }

// MQTTListenerAddr is the bound address of an MQTT listener (ingest.ListenerTCP,
// ListenerTLS, ListenerWS), or "" when there is none.
func (n *Node) MQTTListenerAddr(id string) string {
	n.lnMu.Lock()
	defer n.lnMu.Unlock()
	if n.mqtt == nil {
		return ""
	}
	return n.mqtt.ListenerAddr(id)
}

// HTTPAddr is the bound HTTP address; nil before Start. Safe to call from
// any goroutine.
func (n *Node) HTTPAddr() net.Addr { return n.addr(&n.httpLn) }

// GRPCAddr is the bound gRPC address; nil before Start. Safe to call from
// any goroutine.
func (n *Node) GRPCAddr() net.Addr { return n.addr(&n.grpcLn) }

func (n *Node) addr(ln *net.Listener) net.Addr {
	n.lnMu.Lock()
	defer n.lnMu.Unlock()
	if *ln == nil {
		return nil
	}
	return (*ln).Addr()
}

// startTime is when Start began serving.
func (n *Node) startTime() time.Time {
	n.lnMu.Lock()
	defer n.lnMu.Unlock()
	return n.started
}

// Run starts the node, serves until ctx is done or a listener fails, then
// shuts down within the configured shutdown_timeout. It returns nil after a
// clean shutdown that ctx asked for.
func (n *Node) Run(ctx context.Context) error {
	if err := n.Start(); err != nil {
		return err
	}
	var runErr error
	select {
	case <-ctx.Done():
		n.log.Info("shutting down", "cause", context.Cause(ctx))
	case runErr = <-n.serveErr:
		n.log.Error("listener failed, shutting down", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.ShutdownTimeout.Std())
	defer cancel()
	return errors.Join(runErr, n.Shutdown(sctx))
}

// Shutdown marks the node not ready, then stops both servers, letting
// in-flight requests finish until ctx is done; after that open connections are
// closed. It returns ctx's error if the drain did not finish in time.
func (n *Node) Shutdown(ctx context.Context) error {
	if !n.stopping.CompareAndSwap(false, true) {
		return nil
	}
	begin := time.Now()
	n.ready.set("serving", errShuttingDown)
	n.setServing(false)
	n.stopReads()
	var err error
	if n.mqtt != nil { // first stop taking data in; acks of what is queued still go out
		if merr := n.mqtt.Close(ctx); merr != nil {
			err = fmt.Errorf("mqtt: %w", merr)
		}
	}

	if aerr := n.stopAggregator(); aerr != nil {
		err = errors.Join(err, fmt.Errorf("pipelines: %w", aerr))
	}
	if ferr := n.stopForwarder(); ferr != nil {
		err = errors.Join(err, fmt.Errorf("forwarder: %w", ferr))
	}
	if n.repl != nil {
		n.repl.stop(ctx)
	}

	var httpErr error
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		httpErr = n.httpSrv.Shutdown(ctx)
		n.grpcSrv.GracefulStop()
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("drain not finished within the shutdown timeout, closing connections: %w", ctx.Err()))
		n.grpcSrv.Stop()
		n.httpSrv.Close()
		<-drained
	}
	n.wg.Wait()
	if n.spool != nil {
		if cerr := n.spool.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close spool: %w", cerr))
		}
	}
	if httpErr != nil && !errors.Is(httpErr, context.DeadlineExceeded) && !errors.Is(httpErr, context.Canceled) {
		err = errors.Join(err, fmt.Errorf("http shutdown: %w", httpErr))
	}
	n.log.Info("node stopped", "took", time.Since(begin).Round(time.Millisecond))
	return err
}

var errShuttingDown = errors.New("shutting down")

// prepareDataDir creates dir if needed and proves it is writable, so that a
// wrong path or permission fails at startup rather than at the first write.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("data_dir %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("data_dir %s: %w", filepath.Clean(dir), err)
	}
	return nil
}
