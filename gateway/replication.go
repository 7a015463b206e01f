package gateway

import (
	"context"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/forwarder"
	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/internal/buildinfo"
	"github.com/tributary-io/tributary/internal/memconn"
	"github.com/tributary-io/tributary/internal/tokens"
	"github.com/tributary-io/tributary/spool"
)

// replication is a hub's replication service and its own listener (it
// faces the sites, often over the internet, with its own TLS; the API
// listener can stay on a private interface).
type replication struct {
	srv *cluster.Server
	gs  *grpc.Server
	ln  net.Listener
}

// replicationWindow is the hub's HTTP/2 flow-control window per site
// connection and stream.
const replicationWindow = 4 << 20

// startReplication serves replication on a hub whose config turns it on.
func (n *Node) startReplication(sp *spool.Spool) (*replication, error) {
	rc := n.cfg.Replication
	if n.cfg.Role != config.RoleHub || rc.Listen == "" {
		return nil, nil
	}
	var ts *tokens.Set
	if rc.TokensFile != "" {
		var err error
		if ts, err = tokens.Load(rc.TokensFile); err != nil {
			return nil, fmt.Errorf("replication.tokens_file: %w", err)
		}
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(n.cfg.Spool.MaxBatchBytes) + 1<<20),
		// A fixed flow-control window per site (gRPC's own estimate may
		// grow to 16 MiB per connection): what a site has in flight
		// beyond the hub's pending budget stays this small. 4 MiB still
		// covers a link of 100 Mbit/s at 300 ms round trip.
		grpc.InitialWindowSize(replicationWindow),
		grpc.InitialConnWindowSize(replicationWindow),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: serverPingAfter, Timeout: serverPingTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: clientMinPing, PermitWithoutStream: true}),
	}
	if !rc.Plaintext {
		cfg, err := rc.TLSConfig()
		if err != nil {
			return nil, fmt.Errorf("replication.tls: %w", err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	co := cluster.Options{
		Spool:           sp,
		StreamName:      rc.Stream,
		Tokens:          ts,
		AllowAnonymous:  rc.AllowAnonymous,
		MaxTxnBytes:     int(n.cfg.Spool.MaxBatchBytes),
		MaxPendingBytes: int64(rc.MaxPendingBytes),
		Registerer:      n.reg,
		Logger:          n.log.With("component", "replication"),
	}
	if rc.Sink == config.SinkKafka {
		ko, err := kafkaOptions(rc.Kafka)
		if err != nil {
			return nil, fmt.Errorf("replication.kafka: %w", err)
		}
		co.Spool, co.Kafka, co.StreamName = nil, ko, rc.Kafka.Topic
	}
	srv, err := cluster.New(co)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", rc.Listen)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("replication.listen %s: %w", rc.Listen, err)
	}
	gs := grpc.NewServer(opts...)
	tributaryv1.RegisterReplicationServiceServer(gs, srv)
	return &replication{srv: srv, gs: gs, ln: ln}, nil
}

// kafkaOptions turns replication.kafka into the Kafka sink's options.
func kafkaOptions(k config.Kafka) (*cluster.KafkaOptions, error) {
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.Brokers...),
		kgo.ClientID(k.ClientID),
		kgo.ProducerBatchCompression(codecs[k.Compression]),
	}
	dial, err := k.DialOpts()
	if err != nil {
		return nil, err
	}
	opts = append(opts, dial...)
	return &cluster.KafkaOptions{
		Client:                opts,
		CheckpointTopic:       k.CheckpointTopic,
		TransactionalIDPrefix: k.TransactionalIDPrefix,
		CreateTopics:          k.CreateTopics,
		Partitions:            int32(min(k.Partitions, 1<<20)),
		ReplicationFactor:     int16(min(k.ReplicationFactor, 1<<15-1)),
		Timeout:               k.Timeout.Std(),
		MaxRecordBytes:        int(k.MaxRecordBytes),
	}, nil
}

// stop ends the sessions (they are long-lived: a graceful stop would wait
// for them forever), then the server.
func (r *replication) stop(ctx context.Context) {
	r.srv.Close()
	done := make(chan struct{})
	go func() {
		r.gs.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		r.gs.Stop()
		<-done
	}
}

// ReplicationAddr is a hub's bound replication address; nil if none.
func (n *Node) ReplicationAddr() net.Addr {
	n.lnMu.Lock()
	defer n.lnMu.Unlock()
	if n.repl == nil {
		return nil
	}
	return n.repl.ln.Addr()
}

// startForwarder starts forwarding on an edge node whose config names a hub
// or Kafka.
func (n *Node) startForwarder(sp *spool.Spool) (*forwarder.Forwarder, error) {
	u := n.cfg.Upstream
	direct := len(u.Kafka.Brokers) > 0
	if n.cfg.Role != config.RoleEdge || (u.Hub == "" && !direct) {
		return nil, nil
	}
	fo := forwarder.Options{
		Spool:          sp,
		Site:           n.cfg.Site,
		Version:        buildinfo.Get().Version,
		Addr:           u.Hub,
		Alternates:     u.Alternates,
		Streams:        u.Streams,
		BytesPerSecond: int64(u.Bandwidth),
		Window:         u.Window,
		Heartbeat:      u.Heartbeat.Std(),
		Registerer:     n.reg,
		Logger:         n.log.With("component", "forwarder"),
	}
	if direct {
		w, err := n.startKafkaWriter()
		if err != nil {
			return nil, fmt.Errorf("kafka: %w", err)
		}
		n.kafkaWriter = w
		fo.Addr, fo.Dialer = "kafka", w.ln.Dial
	} else {
		var err error
		if fo.TLS, err = u.TLSConfig(); err != nil {
			return nil, fmt.Errorf("upstream.tls: %w", err)
		}
		if fo.Token, err = u.Token(); err != nil {
			return nil, fmt.Errorf("upstream.token_file: %w", err)
		}
	}
	f, err := forwarder.New(fo)
	if err != nil {
		n.stopKafkaWriter()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.fwdStop = cancel
	n.fwdDone = make(chan struct{})
	go func() {
		defer close(n.fwdDone)
		_ = f.Run(ctx) // returns nil when ctx ends; errors are retried inside
	}()
	return f, nil
}

// stopForwarder stops forwarding; what is unacknowledged is sent again by
// the next session.
func (n *Node) stopForwarder() error {
	if n.fwd == nil {
		return nil
	}
	n.fwdStop()
	<-n.fwdDone
	err := n.fwd.Close()
	n.stopKafkaWriter()
	return err
}

// kafkaWriter is the hub's replication service with its Kafka sink, run
// inside an edge node that writes straight to Kafka (upstream.kafka). The
// forwarder reaches it over an in-process connection, so records, topics,
// headers, checkpoints and fencing are exactly a Kafka hub's, and a site
// may move between a hub and Kafka directly.
type kafkaWriter struct {
	srv  *cluster.Server
	gs   *grpc.Server
	ln   *memconn.Listener
	done chan struct{}
}

func (n *Node) startKafkaWriter() (*kafkaWriter, error) {
	k := n.cfg.Upstream.Kafka
	ko, err := kafkaOptions(k)
	if err != nil {
		return nil, fmt.Errorf("upstream.kafka: %w", err)
	}
	ko.OneSite = true
	srv, err := cluster.New(cluster.Options{
		Kafka:          ko,
		StreamName:     k.Topic,
		AllowAnonymous: true, // the one peer is this node's forwarder
		MaxTxnBytes:    int(n.cfg.Spool.MaxBatchBytes),
		Registerer:     n.reg,
		Logger:         n.log.With("component", "kafka"),
	})
	if err != nil {
		return nil, err
	}
	w := &kafkaWriter{
		srv:  srv,
		gs:   grpc.NewServer(grpc.MaxRecvMsgSize(int(n.cfg.Spool.MaxBatchBytes) + 1<<20)),
		ln:   memconn.Listen(),
		done: make(chan struct{}),
	}
	tributaryv1.RegisterReplicationServiceServer(w.gs, srv)
	go func() {
		defer close(w.done)
		_ = w.gs.Serve(w.ln) // returns when stopped
	}()
	return w, nil
}

// stopKafkaWriter stops the in-process Kafka writer, if there is one; the
// forwarder has stopped, so no session waits on it.
func (n *Node) stopKafkaWriter() {
	w := n.kafkaWriter
	if w == nil {
		return
	}
	n.kafkaWriter = nil
	w.srv.Close()
	w.gs.Stop()
	<-w.done
}

// siteService serves SiteService from the hub's replication server.
type siteService struct {
	tributaryv1.UnimplementedSiteServiceServer
	n *Node
}

// ListSites answers any caller with a known token (see readAuth).
func (s *siteService) ListSites(ctx context.Context, req *tributaryv1.ListSitesRequest) (*tributaryv1.ListSitesResponse, error) {
	if _, err := s.n.auth.identify(ctx); err != nil {
		return nil, err
	}
	s.n.lnMu.Lock()
	r := s.n.repl
	s.n.lnMu.Unlock()
	if r == nil {
		return nil, status.Error(codes.FailedPrecondition, "this node serves no replication (replication.listen is not set)")
	}
	return r.srv.ListSites(ctx, req)
}
