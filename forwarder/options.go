// Package forwarder sends an edge node's spooled streams to a hub: one gRPC
// stream per site, batches exactly as stored, several in flight, resumed
// from the hub's checkpoint after every reconnect. See the
// ReplicationService in api/tributary/v1/replication.proto for the
// protocol, and package cluster for the hub's side.
//
// What the hub has acknowledged is kept in a protecting spool cursor per
// partition (CursorName), so retention never deletes unsent data, except
// under drop_oldest on a full disk, which leaves a gap that is sent on like
// data. The hub's checkpoint is authoritative: the cursor is only a lower
// bound for retention.
//
// Scheduling: the partition with data of the highest stream priority goes
// first (spool.StreamConfig.Priority), partitions of equal priority take
// turns; so a live alarm overtakes a backlog of bulk telemetry, within one
// batch. A byte budget (token bucket) caps the bandwidth.
//
// Retries: a session that ends is reopened after an exponential backoff with
// jitter, from MinBackoff up to MaxBackoff (1 s by default, as Kafka's
// clients do, so a link that comes back is used within a second). A refusal
// that will not heal by retrying (a wrong token or certificate, a site that
// is not this one's) backs off for FatalBackoff instead, and is shown in
// Status and the metrics.
package forwarder

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-io/tributary/spool"
)

// CursorName names the spool cursors that hold what the hub acknowledged.
const CursorName = "forwarder"

// Options configure a Forwarder. Spool, Site and Addr are required.
type Options struct {
	Spool *spool.Spool
	// Site is this node's site id.
	Site string
	// Version is this node's software version, shown by the hub.
	Version string
	// Addr is the hub's replication address, host:port.
	Addr string
	// Alternates are further addresses of the same hub tier (hubs that share
	// the central store, e.g. Kafka): after a session to one fails without
	// progress, the next is tried, in turn.
	Alternates []string
	// Dialer, if set, makes the connections instead of TCP: Addr is then
	// only a name (for Status and logs). An edge that writes straight to
	// Kafka dials the hub service it runs in its own process.
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	// TLS, if set, is used for the connection (with a client certificate
	// for mTLS); nil means plaintext.
	TLS *tls.Config
	// Token, if set, is sent as a bearer token.
	Token string
	// Streams to send; empty: every stream of the spool.
	Streams []string
	// BytesPerSecond caps the batch bytes sent per second; 0: no cap.
	BytesPerSecond int64
	// Window is how many batches may be unacknowledged at once. Default 32.
	Window int
	// WindowBytes caps the bytes of unacknowledged batches. Default 8 MiB.
	WindowBytes int
	// Heartbeat is how often the edge reports its heads to the hub.
	// Default 5 s.
	Heartbeat time.Duration
	// KeepaliveTime and KeepaliveTimeout: an idle connection is pinged after
	// KeepaliveTime and dropped if no answer comes within KeepaliveTimeout,
	// so a link that died without a reset is found within their sum.
	// Defaults 10 s and 10 s; the hub allows pings every 5 s. gRPC raises a
	// KeepaliveTime below 10 s to 10 s.
	KeepaliveTime, KeepaliveTimeout time.Duration
	// MinBackoff, MaxBackoff: the retry delay after a failed session.
	// Defaults 100 ms and 1 s.
	MinBackoff, MaxBackoff time.Duration
	// FatalBackoff is the retry delay after a refusal that retrying will not
	// heal (authentication). Default 30 s.
	FatalBackoff time.Duration
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger; nil logs nothing.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Spool == nil:
		return o, errors.New("forwarder: Options.Spool is required")
	case o.Site == "":
		return o, errors.New("forwarder: Options.Site is required")
	case o.Addr == "":
		return o, errors.New("forwarder: Options.Addr is required")
	case o.BytesPerSecond < 0:
		return o, errors.New("forwarder: Options.BytesPerSecond must not be negative")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Window <= 0 {
		o.Window = 32
	}
	if o.WindowBytes <= 0 {
		o.WindowBytes = 8 << 20
	}
	def(&o.Heartbeat, 5*time.Second)
	def(&o.KeepaliveTime, 10*time.Second)
	def(&o.KeepaliveTimeout, 10*time.Second)
	def(&o.MinBackoff, 100*time.Millisecond)
	def(&o.MaxBackoff, time.Second)
	def(&o.FatalBackoff, 30*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}
