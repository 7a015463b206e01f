package main

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/gateway"
	"github.com/tributary-io/tributary/gateway/config"
)

func startTestNode(t *testing.T, cfg config.Config) *gateway.Node {
	t.Helper()
	n, err := gateway.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return n
}

// `tributary sites` shows a site, its stream and a lag of 0 once the hub
// has what the edge took in over HTTP.
func TestSitesCommand(t *testing.T) {
	hc := config.Default(config.RoleHub)
	hc.DataDir = filepath.Join(t.TempDir(), "hub")
	hc.HTTP.Listen, hc.GRPC.Listen, hc.Replication.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	hc.Replication.Plaintext, hc.Replication.AllowAnonymous = true, true
	hub := startTestNode(t, hc)

	ec := config.Default(config.RoleEdge)
	ec.Site = "plant-07"
	ec.DataDir = filepath.Join(t.TempDir(), "edge")
	ec.HTTP.Listen, ec.GRPC.Listen, ec.MQTT.Listen = "127.0.0.1:0", "127.0.0.1:0", ""
	ec.HTTP.AllowAnonymous = true
	ec.Upstream.Hub, ec.Upstream.Plaintext = hub.ReplicationAddr().String(), true
	ec.Upstream.Heartbeat = config.Duration(100 * time.Millisecond)
	edge := startTestNode(t, ec)

	body := `{"records":[{"key":"meter-1","value":{"v":229.8}},{"key":"meter-2","value":{"v":230.1}}]}`
	resp, err := http.Post("http://"+edge.HTTPAddr().String()+"/v1/streams/telemetry/records", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest: %s", resp.Status)
	}
	addr := hub.GRPCAddr().String()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out, errOut := tributary(t, "sites", "--addr", addr)
		if code != 0 {
			t.Fatalf("sites: exit %d: %s", code, errOut)
		}
		// SITE STATE LAST CONTACT VERSION STREAM HEAD CHECKPOINT LAG ...
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			i := slices.Index(f, "telemetry")
			if len(f) > 0 && f[0] == "plant-07" && f[1] == "connected" && i > 0 && len(f) > i+3 &&
				f[i+1] == "2" && f[i+2] == "2" && f[i+3] == "0" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sites never showed plant-07 caught up:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSitesCommandErrors(t *testing.T) {
	if code, _, errOut := tributary(t, "sites", "--addr", "127.0.0.1:1", "--timeout", "500ms"); code != exitFailure || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Fatalf("unreachable hub: exit %d, %q", code, errOut)
	}
	if code, _, _ := tributary(t, "sites", "extra"); code != exitUsage {
		t.Fatalf("extra argument: exit %d, want %d", code, exitUsage)
	}
}
