package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/gateway"
	"github.com/tributary-io/tributary/gateway/config"
)

// demoSite is the site id of the demo's edge node.
const demoSite = "plant-01"

// demoStreams are the streams of the example configs: telemetry (JSON
// readings), alarms (rare, first in line for the link) and vibration
// (bursts, dropped oldest first when the disk budget is full).
func demoStreams(role config.Role) []config.Stream {
	tele, alarms, vib := config.DefaultStream("telemetry"), config.DefaultStream("alarms"), config.DefaultStream("vibration")
	tele.Partitions = 8
	alarms.Partitions, alarms.Priority = 1, 10
	vib.Full = "drop_oldest"
	if role == config.RoleEdge {
		tele.MaxBytes, alarms.MaxBytes, vib.MaxBytes = config.GiB, 64*config.MiB, 256*config.MiB
	}
	return []config.Stream{tele, alarms, vib}
}

// prefer is addr if it can be bound now, else a free port on 127.0.0.1: the
// demo uses the usual ports when they are free and never fails on a busy
// one.
func prefer(addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "127.0.0.1:0"
	}
	ln.Close()
	return addr
}

// demoHubConfig is the demo hub: its own spool, replication on loopback
// without TLS, taking the site id the edge names.
func demoHubConfig(dir string) config.Config {
	c := config.Default(config.RoleHub)
	c.DataDir = filepath.Join(dir, "hub")
	c.HTTP.Listen = prefer(c.HTTP.Listen)
	c.GRPC.Listen = prefer(c.GRPC.Listen)
	c.Replication.Listen = "127.0.0.1:0"
	c.Replication.Plaintext, c.Replication.AllowAnonymous = true, true
	c.Streams = demoStreams(config.RoleHub)
	c.ShutdownTimeout = config.Duration(5 * time.Second)
	return c
}

// demoEdgeConfig is the demo edge node: anonymous MQTT and HTTP on
// loopback, the example routes, forwarding to hubAddr.
func demoEdgeConfig(dir, hubAddr string) config.Config {
	c := config.Default(config.RoleEdge)
	c.Site = demoSite
	c.DataDir = filepath.Join(dir, "edge")
	c.HTTP.Listen = prefer(c.HTTP.Listen)
	c.GRPC.Listen = prefer(c.GRPC.Listen)
	c.MQTT.Listen = prefer(c.MQTT.Listen)
	c.MQTT.AllowAnonymous, c.HTTP.AllowAnonymous = true, true
	c.MQTT.Routes = []config.Route{
		{Topic: "sensors/{site}/{device}/{metric}", Stream: "telemetry", Key: "{device}", Format: "json", TimeField: "ts"},
		{Topic: "alarms/{site}/{device}", Stream: "alarms", Key: "{device}"},
		{Topic: "vibration/{device}/#", Stream: "vibration", Key: "{device}"},
	}
	c.Streams = demoStreams(config.RoleEdge)
	c.Upstream.Hub, c.Upstream.Plaintext = hubAddr, true
	c.Upstream.Heartbeat = config.Duration(time.Second)
	c.ShutdownTimeout = config.Duration(5 * time.Second)
	return c
}

// startNode builds and starts a node from cfg.
func startNode(cfg config.Config) (*gateway.Node, error) {
	n, err := gateway.New(cfg, nil)
	if err != nil {
		return nil, err
	}
	if err := n.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Role, err)
	}
	return n, nil
}

// pin replaces port-0 listen addresses with the ports the node bound, so
// that a restart of the node comes back on the same ones.
func pin(cfg *config.Config, n *gateway.Node) {
	cfg.HTTP.Listen = n.HTTPAddr().String()
	cfg.GRPC.Listen = n.GRPCAddr().String()
	if a := n.MQTTAddr(); a != "" {
		cfg.MQTT.Listen = a
	}
}

// edgeNode is the demo's edge node, which --chaos restarts now and then.
type edgeNode struct {
	mu   sync.Mutex
	cfg  config.Config
	node *gateway.Node
	up   bool
}

func (e *edgeNode) isUp() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.up
}

// restart stops the edge gracefully (what is queued is acked first) and
// starts it again on the same data and ports.
func (e *edgeNode) restart(ctx context.Context) error {
	e.mu.Lock()
	n := e.node
	e.up = false
	e.mu.Unlock()
	if err := n.Shutdown(ctx); err != nil {
		return err
	}
	var err error
	for range 50 { // the ports may linger a moment
		if n, err = startNode(e.cfg); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.node, e.up = n, true
	e.mu.Unlock()
	return nil
}

func (e *edgeNode) shutdown(ctx context.Context) error {
	e.mu.Lock()
	n := e.node
	e.up = false
	e.mu.Unlock()
	return n.Shutdown(ctx)
}

// demoView reads the figures of the status line over the nodes' gRPC APIs.
type demoView struct {
	edge, hub *grpc.ClientConn
}

func newDemoView(edgeAddr, hubAddr string) (*demoView, error) {
	e, err := grpc.NewClient(edgeAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	h, err := grpc.NewClient(hubAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.Close()
		return nil, err
	}
	return &demoView{edge: e, hub: h}, nil
}

func (v *demoView) close() {
	v.edge.Close()
	v.hub.Close()
}

// figures are one status line's numbers; a negative one was not readable.
type figures struct {
	edgeBytes  int64
	hubRecords int64
	lag        int64
	connected  bool
}

// read reads the figures. The hub's come from its SiteService, which
// every hub answers, a Kafka hub too (its StreamService holds no
// streams): the records it holds from the site are its checkpoints less
// the records the edge lost, and the lag is the edge's heads, read from
// the edge now, minus those checkpoints (the heads the edge's heartbeats
// report stop while the link is down).
func (v *demoView) read(ctx context.Context) figures {
	f := figures{edgeBytes: -1, hubRecords: -1, lag: -1}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var edgeHeads int64 = -1
	if r, err := tributaryv1.NewStreamServiceClient(v.edge).ListStreams(ctx, &tributaryv1.ListStreamsRequest{}); err == nil {
		f.edgeBytes, edgeHeads = 0, 0
		for _, s := range r.GetStreams() {
			f.edgeBytes += s.GetBytes()
			for _, p := range s.GetPartitions() {
				edgeHeads += int64(p.GetNextOffset())
			}
		}
	}
	r, err := tributaryv1.NewSiteServiceClient(v.hub).ListSites(ctx, &tributaryv1.ListSitesRequest{})
	if err != nil {
		return f
	}
	f.hubRecords = 0
	for _, s := range r.GetSites() {
		if s.GetSite() != demoSite {
			continue
		}
		var ckpts int64
		for _, p := range s.GetPartitions() {
			ckpts += int64(p.GetHubCheckpoint())
		}
		f.hubRecords = max(ckpts-int64(s.GetGapRecords()), 0)
		if edgeHeads >= 0 {
			f.lag, f.connected = max(edgeHeads-ckpts, 0), s.GetConnected()
		}
	}
	return f
}

// waitCaughtUp waits up to limit for the hub to hold everything the edge
// stored: no lag, with the edge connected. It returns the lag last read:
// 0, or what was left at the limit (-1: unreadable).
func (v *demoView) waitCaughtUp(ctx context.Context, limit time.Duration) int64 {
	deadline := time.Now().Add(limit)
	for {
		f := v.read(ctx)
		if (f.lag == 0 && f.connected) || !time.Now().Before(deadline) || ctx.Err() != nil {
			return f.lag
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}
