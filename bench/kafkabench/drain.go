package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/grpc"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	benchproc "github.com/tributary-io/tributary/bench/internal/proc"
	"github.com/tributary-io/tributary/bench/internal/replwork"
	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/forwarder"
	"github.com/tributary-io/tributary/spool"
)

// Every run is in this process, as forwarder/harness_test.go sets a hub
// and an edge up: a hub (cluster.New on a plaintext gRPC server on
// loopback) and an edge (a copy of the filled spool + forwarder.New with
// default options). Only the hub's sink differs between the sides: its own
// spool, or Kafka (kfake, in a child process).

// drainRun is one drain.
type drainRun struct {
	Sink        string       `json:"sink"`
	Records     int          `json:"records"`
	Seconds     float64      `json:"seconds"`
	Rate        float64      `json:"records_per_s"`
	OpenSeconds float64      `json:"session_open_s"` // Run → the session is open
	HubCPU      float64      `json:"hub_edge_cpu_s"` // this process: hub and edge
	KafkaCPU    float64      `json:"kfake_cpu_s,omitempty"`
	Batches     float64      `json:"hub_batches"`
	CommitMs    float64      `json:"hub_commit_mean_ms"` // a batch's arrival → its durable commit, mean
	Broker      *brokerStats `json:"kfake_requests,omitempty"`
	ProduceWire int64        `json:"produce_request_bytes,omitempty"` // hub → Kafka, Produce requests as written
	Verified    string       `json:"verified"`
}

// codecs are replication.kafka.compression's values, as gateway maps them.
var codecs = map[string]func() kgo.CompressionCodec{
	"none": kgo.NoCompression, "gzip": kgo.GzipCompression, "snappy": kgo.SnappyCompression,
	"lz4": kgo.Lz4Compression, "zstd": kgo.ZstdCompression,
}

// hubOptions are the hub's options for a sink, as gateway sets them from a
// default config: MaxTxnBytes the spool's default MaxBatchBytes (4 MiB),
// Pipeline default; for Kafka, replication.kafka at its defaults
// (client_id tributary-hub, zstd, timeout 30s) with create_topics and 8
// partitions.
func hubOptions(c config, sink string, sp *spool.Spool, brokers []string, reg prometheus.Registerer, hook kgo.Hook) cluster.Options {
	o := cluster.Options{AllowAnonymous: true, MaxTxnBytes: 4 << 20, Registerer: reg}
	if sink == sinkSpool {
		o.Spool = sp
		return o
	}
	o.Kafka = &cluster.KafkaOptions{
		Client: []kgo.Opt{
			kgo.SeedBrokers(brokers...),
			kgo.ClientID("tributary-hub"),
			kgo.ProducerBatchCompression(codecs[c.codec]()),
			kgo.WithHooks(hook),
		},
		CreateTopics: true,
		Partitions:   int32(stream.Partitions),
		Timeout:      30 * time.Second,
	}
	if c.linger >= 0 {
		o.Kafka.Client = append(o.Kafka.Client, kgo.ProducerLinger(c.linger))
	}
	return o
}

// drain starts a hub with the sink, an edge over a copy of the template,
// and times the drain: from the forwarder's start until it has every
// record acknowledged (the hub acks a batch once its commit is durable in
// the sink). Then it checks that the sink holds exactly the workload.
func (r *report) drain(sink, runDir string, profile string) (drainRun, error) {
	res := drainRun{Sink: sink, Records: r.cfg.records}
	var (
		hubSp   *spool.Spool
		brk     *broker
		brokers []string
		err     error
	)
	switch sink {
	case sinkSpool:
		if hubSp, err = spool.Open(filepath.Join(runDir, "hub"), spool.Options{}); err != nil {
			return res, err
		}
		defer hubSp.Close()
		if err := hubSp.EnsureStream(stream); err != nil {
			return res, err
		}
	case sinkKafka, sinkKafkaSync:
		dir := ""
		if sink == sinkKafkaSync {
			dir = filepath.Join(runDir, "kfake")
		}
		if brk, err = startBroker(r.cfg.brokers, dir); err != nil {
			return res, err
		}
		defer func() {
			if brk != nil {
				_, _ = brk.stop()
			}
		}()
		brokers = brk.addrs
	}
	hubReg := prometheus.NewRegistry()
	wire := &produceBytes{}
	srv, err := cluster.New(hubOptions(r.cfg, sink, hubSp, brokers, hubReg, wire))
	if err != nil {
		return res, err
	}
	srvClosed := false
	defer func() {
		if !srvClosed {
			srv.Close()
		}
	}()
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(4<<20 + 1<<20))
	tributaryv1.RegisterReplicationServiceServer(gs, srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	go func() { _ = gs.Serve(ln) }()
	defer gs.Stop()

	edgeDir := filepath.Join(runDir, "edge")
	if err := replwork.CopyTree(r.template, edgeDir); err != nil {
		return res, fmt.Errorf("copy the filled edge spool: %w", err)
	}
	edgeSp, err := spool.Open(edgeDir, spool.Options{})
	if err != nil {
		return res, err
	}
	defer edgeSp.Close()
	edgeReg := prometheus.NewRegistry()
	fwd, err := forwarder.New(forwarder.Options{Spool: edgeSp, Site: site, Version: "kafkabench", Addr: ln.Addr().String(), Registerer: edgeReg})
	if err != nil {
		return res, err
	}
	defer fwd.Close()

	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0, err := benchproc.SelfCPU()
	if err != nil {
		return res, err
	}
	var kcpu0 time.Duration
	if brk != nil {
		kcpu0 = brk.cpu()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	start := time.Now()
	go func() { runErr <- fwd.Run(ctx) }()
	var opened, done time.Time
	deadline := start.Add(10 * time.Minute)
	for done.IsZero() {
		time.Sleep(2 * time.Millisecond)
		m, err := gather(edgeReg, "tributary_forwarder_acked_records_total", "tributary_forwarder_connected")
		if err != nil {
			return res, err
		}
		now := time.Now()
		if opened.IsZero() && (m["tributary_forwarder_connected"] == 1 || m["tributary_forwarder_acked_records_total"] > 0) {
			opened = now
		}
		switch {
		case m["tributary_forwarder_acked_records_total"] >= float64(r.cfg.records):
			done = now
		case now.After(deadline):
			return res, fmt.Errorf("%s: %.0f of %d records acked after 10 minutes; forwarder: %s", sink, m["tributary_forwarder_acked_records_total"], r.cfg.records, fwd.Status().LastError)
		}
		select {
		case err := <-runErr:
			return res, fmt.Errorf("forwarder stopped: %w", err)
		default:
		}
	}
	cpu1, err := benchproc.SelfCPU()
	if err != nil {
		return res, err
	}
	if brk != nil {
		res.KafkaCPU = (brk.cpu() - kcpu0).Seconds()
	}
	if profile != "" {
		pprof.StopCPUProfile()
	}
	res.Seconds = done.Sub(start).Seconds()
	res.Rate = float64(res.Records) / res.Seconds
	res.OpenSeconds = opened.Sub(start).Seconds()
	res.HubCPU = (cpu1 - cpu0).Seconds()
	hm, err := gather(hubReg, "tributary_hub_batches_total", "tributary_hub_commit_seconds_sum", "tributary_hub_commit_seconds_count")
	if err != nil {
		return res, err
	}
	res.Batches = hm["tributary_hub_batches_total"]
	res.ProduceWire = wire.n.Load()
	if n := hm["tributary_hub_commit_seconds_count"]; n > 0 {
		res.CommitMs = 1000 * hm["tributary_hub_commit_seconds_sum"] / n
	}

	// Stop the edge, then check what the hub says it holds, then what the
	// sink holds.
	cancel()
	if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
		return res, fmt.Errorf("forwarder Run: %w", err)
	}
	if err := r.checkCheckpoints(srv); err != nil {
		return res, fmt.Errorf("%s: %w", sink, err)
	}
	gs.Stop()
	srv.Close()
	srvClosed = true
	switch sink {
	case sinkSpool:
		res.Verified, err = r.verifySpool(hubSp)
	default:
		res.Verified, err = r.verifyKafka(brokers)
		if err == nil {
			st, serr := brk.stop()
			brk = nil
			res.Broker, err = &st, serr
		}
	}
	if err != nil {
		return res, fmt.Errorf("%s: %w", sink, err)
	}
	return res, nil
}

// produceBytes counts the bytes of the Produce requests the hub's Kafka
// clients write: what goes to Kafka, compressed, with Kafka's framing.
type produceBytes struct{ n atomic.Int64 }

func (p *produceBytes) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, _ error) {
	if key == int16(kmsg.Produce) {
		p.n.Add(int64(n))
	}
}

// gather reads counters, gauges and histogram sums and counts (as
// NAME_sum, NAME_count) from reg.
func gather(reg *prometheus.Registry, names ...string) (map[string]float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			n := mf.GetName()
			switch {
			case m.GetCounter() != nil && want[n]:
				out[n] += m.GetCounter().GetValue()
			case m.GetGauge() != nil && want[n]:
				out[n] += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				if want[n+"_sum"] {
					out[n+"_sum"] += m.GetHistogram().GetSampleSum()
				}
				if want[n+"_count"] {
					out[n+"_count"] += float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return out, nil
}
