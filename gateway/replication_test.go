package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

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
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	hubCfg := hubConfig(t)
	hubCfg.Replication.Sink = config.SinkKafka
	hubCfg.Replication.Kafka.Brokers = kc.ListenAddrs()
	hubCfg.Replication.Kafka.CreateTopics = true
	hub := startNode(t, hubCfg)
	const n = 200
	forwardAndCatchUp(t, hub, n)

	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.ConsumeTopics("telemetry"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(seen) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("kafka holds %d of %d records", len(seen), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if seen[v] {
				t.Fatalf("record %s twice in kafka", v)
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
		})
	}
}
