package gateway

import (
	"context"
	"crypto/tls"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/types/known/timestamppb"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/internal/buildinfo"
)

// Keepalive: the server pings an idle client after serverPingAfter and drops
// it if no answer comes within serverPingTimeout; clients may ping as often as
// clientMinPing (edge forwarders ping to find a dead link quickly).
const (
	serverPingAfter   = 30 * time.Second
	serverPingTimeout = 10 * time.Second
	clientMinPing     = 5 * time.Second
)

// newGRPCServer builds the API's gRPC server, over TLS when tlsCfg is not
// nil (grpc.tls).
func (n *Node) newGRPCServer(tlsCfg *tls.Config) *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(n.cfg.GRPC.MaxRecvMsgSize)),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: serverPingAfter, Timeout: serverPingTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: clientMinPing, PermitWithoutStream: true}),
	}
	if tlsCfg != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	s := grpc.NewServer(opts...)
	tributaryv1.RegisterNodeServiceServer(s, &nodeService{n: n})
	tributaryv1.RegisterStreamServiceServer(s, &streamService{n: n})
	if n.api != nil {
		tributaryv1.RegisterIngestServiceServer(s, n.api)
	}
	if n.cfg.Role == config.RoleHub {
		tributaryv1.RegisterSiteServiceServer(s, &siteService{n: n})
	}
	healthpb.RegisterHealthServer(s, n.health)
	reflection.Register(s)
	return s
}

// setServing sets the gRPC health status of the whole server ("") and of each
// public service.
func (n *Node) setServing(ok bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	n.health.SetServingStatus("", st)
	n.health.SetServingStatus(tributaryv1.NodeService_ServiceDesc.ServiceName, st)
	n.health.SetServingStatus(tributaryv1.StreamService_ServiceDesc.ServiceName, st)
	if n.api != nil {
		n.health.SetServingStatus(tributaryv1.IngestService_ServiceDesc.ServiceName, st)
	}
}

// nodeService implements tributary.v1.NodeService.
type nodeService struct {
	tributaryv1.UnimplementedNodeServiceServer
	n *Node
}

func (s *nodeService) GetNodeInfo(context.Context, *tributaryv1.GetNodeInfoRequest) (*tributaryv1.GetNodeInfoResponse, error) {
	bi := buildinfo.Get()
	return &tributaryv1.GetNodeInfoResponse{
		Role: roleProto(s.n.cfg.Role),
		Site: s.n.cfg.Site,
		Build: &tributaryv1.BuildInfo{
			Version:   bi.Version,
			Commit:    bi.Commit,
			GoVersion: bi.GoVersion,
			Platform:  bi.OS + "/" + bi.Arch,
		},
		StartTime: timestamppb.New(s.n.startTime()),
	}, nil
}

func roleProto(r config.Role) tributaryv1.Role {
	switch r {
	case config.RoleEdge:
		return tributaryv1.Role_ROLE_EDGE
	case config.RoleHub:
		return tributaryv1.Role_ROLE_HUB
	}
	return tributaryv1.Role_ROLE_UNSPECIFIED
}
