package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/gateway"
	"github.com/tributary-io/tributary/gateway/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/eclipse/paho.mqtt.golang.(*router).matchAndDispatch"))
}

// testConfig is an edge config on free loopback ports with its own data dir.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default(config.RoleEdge)
	cfg.Site = "test-site"
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.GRPC.Listen = "127.0.0.1:0"
	cfg.MQTT.Listen = "127.0.0.1:0"
	return cfg
}

// startNode starts a node and shuts it down when the test ends.
func startNode(t *testing.T, cfg config.Config) *gateway.Node {
	t.Helper()
	n, err := gateway.New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := n.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return n
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func dial(t *testing.T, n *gateway.Node) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(n.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestHTTPEndpoints(t *testing.T) {
	n := startNode(t, testConfig(t))
	base := "http://" + n.HTTPAddr().String()

	if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/readyz = %d %q, want 200 ok", code, body)
	}
	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{`tributary_build_info{`, `role="edge"`, "go_goroutines ", "process_start_time_seconds "} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, _ := get(t, base+"/no-such-path"); code != http.StatusNotFound {
		t.Errorf("unknown path = %d, want 404", code)
	}
}

func TestRESTNodeInfo(t *testing.T) {
	n := startNode(t, testConfig(t))
	code, body := get(t, "http://"+n.HTTPAddr().String()+"/v1/node")
	if code != 200 {
		t.Fatalf("GET /v1/node = %d %s", code, body)
	}
	var info struct {
		Role      string `json:"role"`
		Site      string `json:"site"`
		StartTime string `json:"startTime"`
		Build     struct {
			Version  string `json:"version"`
			Platform string `json:"platform"`
		} `json:"build"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if info.Role != "ROLE_EDGE" || info.Site != "test-site" || info.Build.Version == "" || info.Build.Platform == "" {
		t.Errorf("GET /v1/node = %+v", info)
	}
	if ts, err := time.Parse(time.RFC3339Nano, info.StartTime); err != nil || time.Since(ts) > time.Minute {
		t.Errorf("startTime %q: want a recent RFC 3339 time (%v)", info.StartTime, err)
	}
}

func TestGRPCHealthReflectionAndAPI(t *testing.T) {
	n := startNode(t, testConfig(t))
	conn := dial(t, n)
	ctx := t.Context()

	for _, svc := range []string{"", "tributary.v1.NodeService", "tributary.v1.StreamService"} {
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q = %v, %v; want SERVING", svc, resp.GetStatus(), err)
		}
	}

	info, err := tributaryv1.NewNodeServiceClient(conn).GetNodeInfo(ctx, &tributaryv1.GetNodeInfoRequest{})
	if err != nil {
		t.Fatalf("GetNodeInfo: %v", err)
	}
	if info.GetRole() != tributaryv1.Role_ROLE_EDGE || info.GetSite() != "test-site" {
		t.Errorf("GetNodeInfo = %v", info)
	}

	services := listServices(t, conn)
	for _, want := range []string{"tributary.v1.NodeService", "tributary.v1.StreamService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !strings.Contains(services, want) {
			t.Errorf("reflection lists %q, missing %s", services, want)
		}
	}
}

func listServices(t *testing.T, conn *grpc.ClientConn) string {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	req := &reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}
	if err := stream.Send(req); err != nil {
		t.Fatalf("reflection send: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("reflection recv: %v", err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("reflection close: %v", err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return strings.Join(names, ",")
}

// A shutdown tells gRPC health watchers NOT_SERVING before it drains, and a
// call that never ends is cut at the deadline instead of hanging shutdown.
func TestShutdownSignalsNotServingThenHonoursDeadline(t *testing.T) {
	n, err := gateway.New(testConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, n)
	watch, err := healthpb.NewHealthClient(conn).Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first watch status = %v, %v; want SERVING", st.GetStatus(), err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.Shutdown(ctx) }()

	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch status during shutdown = %v, %v; want NOT_SERVING", st.GetStatus(), err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown with an open stream = %v, want a deadline error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after its deadline")
	}
	if _, err := net.Dial("tcp", n.HTTPAddr().String()); err == nil {
		t.Error("HTTP listener still accepts after shutdown")
	}
}

func TestRunStopsCleanlyWhenContextEnds(t *testing.T) {
	n, err := gateway.New(testConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	waitServing(t, n)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after a requested shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// waitServing waits until n answers /healthz (Run starts it in a goroutine).
func waitServing(t *testing.T, n *gateway.Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if a := n.HTTPAddr(); a != nil {
			if resp, err := http.Get("http://" + a.String() + "/healthz"); err == nil {
				resp.Body.Close()
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("node did not start serving")
}

func TestStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	cases := map[string]struct {
		edit func(*config.Config)
		want string
	}{
		"http port in use":   {func(c *config.Config) { c.HTTP.Listen = busy.Addr().String() }, "http.listen " + busy.Addr().String()},
		"grpc port in use":   {func(c *config.Config) { c.GRPC.Listen = busy.Addr().String() }, "grpc.listen " + busy.Addr().String()},
		"data_dir is a file": {func(c *config.Config) { c.DataDir = filepath.Join(file, "data") }, "data_dir"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.edit(&cfg)
			n, err := gateway.New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = n.Start()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	cfg := testConfig(t)
	cfg.Site = ""
	if _, err := gateway.New(cfg, nil); err == nil || !strings.Contains(err.Error(), "site") {
		t.Fatalf("New with no site = %v, want an error naming site", err)
	}
}

func TestNodeOpensItsSpoolWithTheConfiguredStreams(t *testing.T) {
	cfg := testConfig(t)
	alarms := config.DefaultStream("alarms")
	alarms.MaxBytes = 64 * config.MiB // the two must fit arm/v7's 1.5GiB
	cfg.Streams = append(cfg.Streams, alarms)
	n := startNode(t, cfg)
	_, body := get(t, "http://"+n.HTTPAddr().String()+"/metrics")
	for _, want := range []string{`tributary_spool_stream_bytes{stream="telemetry"} 0`, `tributary_spool_stream_bytes{stream="alarms"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, gateway.SpoolDir, "spool.db")); err != nil {
		t.Fatalf("no spool file: %v", err)
	}

	// A second node on the same data_dir is refused, and says why.
	other := testConfig(t)
	other.DataDir = cfg.DataDir
	second, err := gateway.New(other, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second node on one data_dir: Start = %v, want an in-use error", err)
	}
}

// An MQTT publish on a routed topic is in the spool by the time its PUBACK
// arrives, and the node's metrics say so.
func TestNodeSpoolsMQTTPublishes(t *testing.T) {
	cfg := testConfig(t)
	cfg.MQTT.AllowAnonymous = true
	cfg.MQTT.Routes = []config.Route{{Topic: "sensors/{site}/{device}/{metric}", Stream: "telemetry", Key: "{device}", Format: "json"}}
	n := startNode(t, cfg)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + n.MQTTAddr()).SetClientID("meter-1").SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	for i := range 3 {
		if tok := c.Publish("sensors/plant-01/meter-1/voltage", 1, false, fmt.Sprintf(`{"v":%d}`, i)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	_, body := get(t, "http://"+n.HTTPAddr().String()+"/metrics")
	if want := `tributary_spool_appended_records_total{stream="telemetry"} 3`; !strings.Contains(body, want) {
		t.Fatalf("/metrics lacks %q after three acknowledged publishes", want)
	}
}
