package gateway

import (
	"context"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
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
		Spool:          sp,
		StreamName:     rc.Stream,
		Tokens:         ts,
		AllowAnonymous: rc.AllowAnonymous,
		MaxTxnBytes:    int(n.cfg.Spool.MaxBatchBytes),
		Registerer:     n.reg,
		Logger:         n.log.With("component", "replication"),
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
	tlsCfg, err := k.TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if tlsCfg != nil {
		opts = append(opts, kgo.DialTLSConfig(tlsCfg))
	}
	if s := k.SASL; s.Mechanism != "" {
		pass, err := s.Password()
		if err != nil {
			return nil, fmt.Errorf("sasl.password_file: %w", err)
		}
		switch s.Mechanism {
		case "plain":
			opts = append(opts, kgo.SASL(plain.Auth{User: s.Username, Pass: pass}.AsMechanism()))
		case "scram-sha-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: s.Username, Pass: pass}.AsSha256Mechanism()))
		case "scram-sha-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: s.Username, Pass: pass}.AsSha512Mechanism()))
		default:
			return nil, fmt.Errorf("sasl.mechanism %q: want plain, scram-sha-256 or scram-sha-512", s.Mechanism)
		}
	}
	return &cluster.KafkaOptions{
		Client:                opts,
		CheckpointTopic:       k.CheckpointTopic,
		TransactionalIDPrefix: k.TransactionalIDPrefix,
		CreateTopics:          k.CreateTopics,
		Partitions:            int32(min(k.Partitions, 1<<20)),
		ReplicationFactor:     int16(min(k.ReplicationFactor, 1<<15-1)),
		Timeout:               k.Timeout.Std(),
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

// startForwarder starts forwarding on an edge node whose config names a hub.
func (n *Node) startForwarder(sp *spool.Spool) (*forwarder.Forwarder, error) {
	u := n.cfg.Upstream
	if n.cfg.Role != config.RoleEdge || u.Hub == "" {
		return nil, nil
	}
	tlsCfg, err := u.TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("upstream.tls: %w", err)
	}
	tok, err := u.Token()
	if err != nil {
		return nil, fmt.Errorf("upstream.token_file: %w", err)
	}
	f, err := forwarder.New(forwarder.Options{
		Spool:          sp,
		Site:           n.cfg.Site,
		Version:        buildinfo.Get().Version,
		Addr:           u.Hub,
		Alternates:     u.Alternates,
		TLS:            tlsCfg,
		Token:          tok,
		Streams:        u.Streams,
		BytesPerSecond: int64(u.Bandwidth),
		Window:         u.Window,
		Heartbeat:      u.Heartbeat.Std(),
		Registerer:     n.reg,
		Logger:         n.log.With("component", "forwarder"),
	})
	if err != nil {
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
	return n.fwd.Close()
}

// siteService serves SiteService from the hub's replication server.
type siteService struct {
	tributaryv1.UnimplementedSiteServiceServer
	n *Node
}

func (s *siteService) ListSites(ctx context.Context, req *tributaryv1.ListSitesRequest) (*tributaryv1.ListSitesResponse, error) {
	s.n.lnMu.Lock()
	r := s.n.repl
	s.n.lnMu.Unlock()
	if r == nil {
		return nil, status.Error(codes.FailedPrecondition, "this node serves no replication (replication.listen is not set)")
	}
	return r.srv.ListSites(ctx, req)
}
