package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/spool"
)

// Forwarder replicates the spool to a hub. Run it with Run; it reconnects
// by itself until its context ends.
type Forwarder struct {
	opts    Options
	sp      *spool.Spool
	m       *metrics
	hubs    []hubConn     // Addr, then Alternates
	cur     int           // the hub in use; Run's goroutine only
	limiter *rate.Limiter // nil: no budget

	mu     sync.Mutex
	status Status
}

// Status is what the forwarder is doing, for a status page and tests.
type Status struct {
	Connected bool
	// Hub is the address of the current (or last) session's hub.
	Hub string
	// Session is the hub's number for the current (or last) session.
	Session uint64
	// LastError is why the last session ended or could not open; Fatal says
	// retrying will not help until someone fixes a credential or config.
	LastError   string
	LastErrorAt time.Time
	Fatal       bool
	// Refused: streams the hub would not take, and why.
	Refused map[string]string
	// Sessions opened, and sessions that failed to open or ended in error.
	Sessions, Failures int
}

// New checks opts, makes sure every partition to send has a protecting
// cursor (so retention keeps what the hub does not have), and prepares the
// connection; nothing is dialled until Run.
func New(opts Options) (*Forwarder, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	f := &Forwarder{opts: o, sp: o.Spool}
	if o.BytesPerSecond > 0 {
		f.limiter = rate.NewLimiter(rate.Limit(o.BytesPerSecond), burst(o.BytesPerSecond))
	}
	if err := f.protect(); err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if o.TLS != nil {
		creds = credentials.NewTLS(o.TLS)
	}
	for _, addr := range append([]string{o.Addr}, o.Alternates...) {
		target, dopts := addr, []grpc.DialOption{
			grpc.WithTransportCredentials(creds),
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: o.KeepaliveTime, Timeout: o.KeepaliveTimeout, PermitWithoutStream: true}),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1 << 20)),
			grpc.WithConnectParams(grpcConnectParams(o)),
		}
		if o.Dialer != nil {
			target, dopts = "passthrough:///"+addr, append(dopts, grpc.WithContextDialer(o.Dialer))
		}
		conn, err := grpc.NewClient(target, dopts...)
		if err != nil {
			_ = f.closeConns()
			return nil, fmt.Errorf("forwarder: hub address %q: %w", addr, err)
		}
		f.hubs = append(f.hubs, hubConn{addr: addr, conn: conn, client: tributaryv1.NewReplicationServiceClient(conn)})
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		_ = f.closeConns()
		return nil, err
	}
	f.m = m
	return f, nil
}

// burst is the token bucket's depth: a tenth of a second of budget, so the
// rate holds over short spans too; larger batches wait in several steps.
func burst(bps int64) int { return int(max(bps/10, 1)) }

// hubConn is one hub address and its connection.
type hubConn struct {
	addr   string
	conn   *grpc.ClientConn
	client tributaryv1.ReplicationServiceClient
}

// Close releases the connections and the metrics. Call it after Run returns.
func (f *Forwarder) Close() error {
	f.m.set.Unregister()
	return f.closeConns()
}

func (f *Forwarder) closeConns() error {
	var errs []error
	for _, h := range f.hubs {
		errs = append(errs, h.conn.Close())
	}
	return errors.Join(errs...)
}

// Status returns a copy of the current status.
func (f *Forwarder) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.status
	s.Refused = make(map[string]string, len(f.status.Refused))
	for k, v := range f.status.Refused {
		s.Refused[k] = v
	}
	return s
}

// streams returns the configs of the streams to send.
func (f *Forwarder) streams() []spool.StreamConfig {
	all := f.sp.Streams()
	if len(f.opts.Streams) == 0 {
		return all
	}
	return slices.DeleteFunc(all, func(c spool.StreamConfig) bool { return !slices.Contains(f.opts.Streams, c.Name) })
}

// protect creates the protecting cursor of every partition that has none,
// at the partition's oldest offset.
func (f *Forwarder) protect() error {
	t := new(spool.Txn)
	n := 0
	for _, c := range f.streams() {
		for p := range c.Partitions {
			_, ok, err := f.sp.Cursor(CursorName, c.Name, p)
			if err != nil {
				return fmt.Errorf("forwarder: %w", err)
			}
			if ok {
				continue
			}
			start, _, err := f.sp.Offsets(c.Name, p)
			if err != nil {
				return fmt.Errorf("forwarder: %w", err)
			}
			t.SetCursor(CursorName, c.Name, p, start, true)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if _, err := f.sp.Commit(context.Background(), t); err != nil {
		return fmt.Errorf("forwarder: create cursors: %w", err)
	}
	return nil
}

// Run keeps a session with the hub open until ctx ends; it returns nil then.
func (f *Forwarder) Run(ctx context.Context) error {
	attempt, lastErr := 0, ""
	for {
		progressed, err := f.session(ctx)
		if ctx.Err() != nil {
			f.setConnected(false)
			return nil
		}
		hub := f.hubs[f.cur].addr
		if progressed {
			attempt = 0
		} else {
			f.cur = (f.cur + 1) % len(f.hubs) // try the next address
		}
		fatal := isFatal(err)
		f.failed(err, fatal)
		d := f.backoff(attempt, fatal)
		attempt++
		// A refusal is an error each time (every 30 s). Of other failures,
		// the first of a run of the same one is a warning and its repeats
		// (a hub that is down, retried every second) are debug.
		level := slog.LevelWarn
		switch {
		case fatal:
			level = slog.LevelError
		case progressed || err.Error() != lastErr:
		default:
			level = slog.LevelDebug
		}
		lastErr = err.Error()
		f.opts.Logger.Log(ctx, level, "replication session ended; retrying", "hub", hub, "err", err, "fatal", fatal, "retry_in", d.Round(time.Millisecond))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff is the delay before attempt (0-based): exponential from
// MinBackoff, capped at MaxBackoff, with jitter (half to all of it).
func (f *Forwarder) backoff(attempt int, fatal bool) time.Duration {
	d := f.opts.MaxBackoff
	if fatal {
		d = f.opts.FatalBackoff
	} else if attempt < 30 {
		d = min(d, f.opts.MinBackoff<<attempt)
	}
	return d/2 + rand.N(d/2+1)
}

// isFatal says whether a session error is one retrying will not heal.
func isFatal(err error) bool {
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument, codes.Unimplemented:
		return true
	}
	return false
}

func (f *Forwarder) failed(err error, fatal bool) {
	f.m.failures.Inc()
	f.m.fatal.Set(boolFloat(fatal))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status.Connected = false
	f.status.LastError = err.Error()
	f.status.LastErrorAt = f.opts.Now()
	f.status.Fatal = fatal
	f.status.Failures++
}

func (f *Forwarder) setConnected(up bool) {
	f.mu.Lock()
	f.status.Connected = up
	f.mu.Unlock()
	f.m.connected.Set(boolFloat(up))
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// session runs one session; progressed says whether the hub acked anything.
func (f *Forwarder) session(ctx context.Context) (progressed bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if f.opts.Token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+f.opts.Token)
	}
	hub := f.hubs[f.cur]
	// Connect now rather than after gRPC's own reconnect backoff: ours is
	// the one that paces attempts, so a link that is back is used at once.
	hub.conn.ResetConnectBackoff()
	stream, err := hub.client.Replicate(ctx)
	if err != nil {
		return false, err
	}
	hello := &tributaryv1.Hello{Site: f.opts.Site, Epoch: f.sp.Epoch(), Version: f.opts.Version}
	cfgs := map[string]spool.StreamConfig{}
	for _, c := range f.streams() {
		cfgs[c.Name] = c
		hello.Streams = append(hello.Streams, &tributaryv1.StreamOffer{Stream: c.Name, Partitions: uint32(c.Partitions)})
	}
	if err := stream.Send(&tributaryv1.ReplicateRequest{Msg: &tributaryv1.ReplicateRequest_Hello{Hello: hello}}); err != nil {
		return false, recvErr(stream, err)
	}
	resp, err := stream.Recv()
	if err != nil {
		return false, err
	}
	w := resp.GetWelcome()
	if w == nil {
		return false, status.Error(codes.InvalidArgument, "the hub's first message is not a Welcome")
	}
	s, err := f.newSession(ctx, cancel, stream, w, cfgs)
	if err != nil {
		return false, err
	}
	f.mu.Lock()
	f.status.Connected, f.status.Session, f.status.Sessions, f.status.Hub = true, w.GetSession(), f.status.Sessions+1, hub.addr
	f.status.Refused = map[string]string{}
	for _, r := range w.GetRefused() {
		f.status.Refused[r.GetStream()] = r.GetReason()
		f.opts.Logger.Error("the hub refuses a stream; it is not sent", "stream", r.GetStream(), "reason", r.GetReason())
	}
	f.mu.Unlock()
	f.m.connected.Set(1)
	f.m.fatal.Set(0)
	f.m.sessions.Inc()
	f.opts.Logger.Info("replication session open", "hub", hub.addr, "session", w.GetSession(), "partitions", len(s.parts))
	err = s.run()
	f.setConnected(false)
	return s.progressed.Load(), err
}

// recvErr returns the stream's status when a Send failed because the
// stream ended (gRPC reports io.EOF from Send; the reason comes from Recv).
// Only for the Hello: once a session's receiver runs, it alone calls Recv.
func recvErr(stream tributaryv1.ReplicationService_ReplicateClient, err error) error {
	if _, rerr := stream.Recv(); rerr != nil && !errors.Is(rerr, context.Canceled) {
		return rerr
	}
	return err
}
