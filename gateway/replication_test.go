package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"

	"github.com/tributary-io/tributary/gateway"
	"github.com/tributary-io/tributary/gateway/config"
)

// hubConfig is a hub config on free loopback ports, replication plaintext
// and anonymous (loopback only).
func hubConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default(config.RoleHub)
	cfg.DataDir = filepath.Join(t.TempDir(), "hub")
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.GRPC.Listen = "127.0.0.1:0"
	cfg.Replication.Listen = "127.0.0.1:0"
	cfg.Replication.Plaintext = true
	cfg.Replication.AllowAnonymous = true
	return cfg
}

// MQTT publishes acknowledged by an edge node reach the hub node it
// forwards to, once each, and the hub's /v1/sites shows the site caught up.
func TestEdgeForwardsToHub(t *testing.T) {
	hubCfg := hubConfig(t)
	hub := startNode(t, hubCfg)
	const n = 200
	forwardAndCatchUp(t, hub, n)
	recs := storedRecords(t, hub, hubCfg, "telemetry")
	if len(recs) != n {
		t.Fatalf("hub holds %d records, want %d", len(recs), n)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		v := string(r.Value)
		if seen[v] {
			t.Fatalf("record %s twice at the hub", v)
		}
		seen[v] = true
		site := ""
		for _, h := range r.Headers {
			if h.Key == "tributary.site" {
				site = string(h.Value)
			}
		}
		if site != "test-site" {
			t.Fatalf("record %s lacks the site header: %v", v, r.Headers)
		}
	}
}

// forwardAndCatchUp starts an edge node that forwards to hub, publishes n
// records to it over MQTT, and waits until the hub's /v1/sites shows the
// site caught up.
func forwardAndCatchUp(t *testing.T, hub *gateway.Node, n int) {
	t.Helper()
	cfg := testConfig(t)
	cfg.MQTT.AllowAnonymous = true
	cfg.MQTT.Routes = []config.Route{{Topic: "sensors/{site}/{device}/{metric}", Stream: "telemetry", Key: "{device}", Format: "json"}}
	cfg.Upstream.Hub = hub.ReplicationAddr().String()
	cfg.Upstream.Plaintext = true
	cfg.Upstream.Heartbeat = config.Duration(100 * time.Millisecond)
	edge := startNode(t, cfg)

	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + edge.MQTTAddr()).SetClientID("meter-1").SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	for i := range n {
		if tok := c.Publish("sensors/plant-01/meter-1/voltage", 1, false, fmt.Sprintf(`{"seq":%d}`, i)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	url := "http://" + hub.HTTPAddr().String() + "/v1/sites"
	var sites struct {
		Sites []struct {
			Site       string `json:"site"`
			Connected  bool   `json:"connected"`
			Partitions []struct {
				Stream        string `json:"stream"`
				EdgeHead      string `json:"edgeHead"`
				HubCheckpoint string `json:"hubCheckpoint"`
			} `json:"partitions"`
		} `json:"sites"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, url)
		if code != 200 {
			t.Fatalf("GET /v1/sites: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &sites); err != nil {
			t.Fatalf("GET /v1/sites: %v: %s", err, body)
		}
		done := false
		if len(sites.Sites) == 1 && sites.Sites[0].Site == "test-site" && sites.Sites[0].Connected {
			var ckpt, head int
			for _, p := range sites.Sites[0].Partitions {
				if p.Stream == "telemetry" {
					c, _ := strconv.Atoi(p.HubCheckpoint) // uint64 is a JSON string
					h, _ := strconv.Atoi(p.EdgeHead)
					ckpt, head = ckpt+c, head+h
				}
			}
			done = ckpt == n && head == n
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub did not catch up: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A hub with sink kafka writes what the edge forwards into Kafka: a
// consumer at read_committed sees each record once, with the site header.
func TestEdgeForwardsToKafkaHub(t *testing.T) {
	kc, hubCfg, hub := startKafkaHubNode(t)
	const n = 200
	forwardAndCatchUp(t, hub, n)
	newExactlyOnceConsumer(t, kc.ListenAddrs(), "telemetry").await(t, n)

	// The hub kept nothing on disk, and says where the streams are.
	if _, err := os.Stat(hubCfg.DataDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a Kafka hub made its data_dir: %v", err)
	}
	_, err := tributaryv1.NewStreamServiceClient(dial(t, hub)).ListStreams(context.Background(), &tributaryv1.ListStreamsRequest{})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "Kafka") {
		t.Fatalf("ListStreams on a Kafka hub: %v, want FailedPrecondition naming Kafka", err)
	}
}

// startKafkaHubNode starts a kfake cluster and a hub node whose sink it is.
func startKafkaHubNode(t *testing.T) (*kfake.Cluster, config.Config, *gateway.Node) {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	hubCfg := hubConfig(t)
	hubCfg.Replication.Sink = config.SinkKafka
	hubCfg.Replication.Kafka.Brokers = kc.ListenAddrs()
	hubCfg.Replication.Kafka.CreateTopics = true
	return kc, hubCfg, startNode(t, hubCfg)
}

// An edge with upstream.kafka writes straight to Kafka through the hub's
// Kafka writer, run in its own process. Here the site first forwards
// through a Kafka hub, then moves to writing straight to Kafka, keeping
// its data directory: the second writer resumes from the checkpoints the
// first committed, so a consumer at read_committed sees every record
// once, with the same headers.
func TestEdgeWritesStraightToKafka(t *testing.T) {
	kc, _, hub := startKafkaHubNode(t)

	cfg := testConfig(t)
	cfg.MQTT.AllowAnonymous = true
	cfg.MQTT.Routes = []config.Route{{Topic: "sensors/{site}/{device}/{metric}", Stream: "telemetry", Key: "{device}", Format: "json"}}
	viaHub := cfg
	viaHub.Upstream.Hub = hub.ReplicationAddr().String()
	viaHub.Upstream.Plaintext = true
	edge, err := gateway.New(viaHub, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := edge.Start(); err != nil {
		t.Fatal(err)
	}
	const n = 150
	publishSeq(t, edge, 0, n)
	consumer := newExactlyOnceConsumer(t, kc.ListenAddrs(), "telemetry")
	consumer.await(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := edge.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	direct := cfg
	direct.Upstream.Kafka.Brokers = kc.ListenAddrs()
	direct.Upstream.Kafka.CreateTopics = true
	edge = startNode(t, direct)
	publishSeq(t, edge, n, n)
	consumer.await(t, 2*n)
	// Nothing more comes: the direct writer did not send the first n again.
	consumer.await(t, 2*n)
}

// publishSeq publishes n records {"seq":from..from+n-1} to an edge node
// over MQTT at QoS 1.
func publishSeq(t *testing.T, edge *gateway.Node, from, n int) {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + edge.MQTTAddr()).SetClientID("meter-1").SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	for i := from; i < from+n; i++ {
		if tok := c.Publish("sensors/plant-01/meter-1/voltage", 1, false, fmt.Sprintf(`{"seq":%d}`, i)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
}

// exactlyOnceConsumer reads a topic at read_committed and fails the test
// on a record seen twice or without the site header.
type exactlyOnceConsumer struct {
	cl   *kgo.Client
	seen map[string]bool
}

func newExactlyOnceConsumer(t *testing.T, brokers []string, topic string) *exactlyOnceConsumer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &exactlyOnceConsumer{cl: cl, seen: map[string]bool{}}
}

// await reads until n distinct records were seen, then for another half
// second, so that a duplicate arriving late is caught too.
func (c *exactlyOnceConsumer) await(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var quiet time.Time
	for {
		if len(c.seen) >= n && quiet.IsZero() {
			quiet = time.Now().Add(500 * time.Millisecond)
		}
		until := deadline
		if !quiet.IsZero() {
			until = quiet
		}
		ctx, cancel := context.WithDeadline(context.Background(), until)
		fs := c.cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if c.seen[v] {
				t.Fatalf("record %s twice in kafka", v)
			}
			c.seen[v] = true
			site := ""
			for _, h := range r.Headers {
				if h.Key == "tributary.site" {
					site = string(h.Value)
				}
			}
			if site != "test-site" {
				t.Fatalf("record %s lacks the site header: %v", v, r.Headers)
			}
		})
		switch {
		case !quiet.IsZero() && time.Now().After(quiet):
			if len(c.seen) != n {
				t.Fatalf("kafka holds %d distinct records, want %d", len(c.seen), n)
			}
			return
		case quiet.IsZero() && time.Now().After(deadline):
			t.Fatalf("kafka holds %d of %d records", len(c.seen), n)
		}
	}
}
