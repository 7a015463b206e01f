package main

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	firmwaresim "github.com/tributary-io/tributary/firmware-sim"
	"github.com/tributary-io/tributary/gateway/config"
)

// `tributary sim` against an edge node run from configs/edge.yaml: every
// message the ledger says was acknowledged is in the edge's spool, on the
// streams the example routes send it to.
func TestSimCommandAgainstEdge(t *testing.T) {
	cfg, err := config.Load("../../configs/edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = filepath.Join(t.TempDir(), "edge")
	cfg.HTTP.Listen, cfg.GRPC.Listen, cfg.MQTT.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Upstream.Hub = ""
	edge := startTestNode(t, *cfg)

	ledgerPath := filepath.Join(t.TempDir(), "ledger.txt")
	code, out, errOut := tributary(t, "sim", "--broker", "tcp://"+edge.MQTTAddr(), "--site", cfg.Site,
		"--profile", "mix", "--devices", "10", "--rate", "20/s", "--duration", "2s", "--ledger", ledgerPath)
	if code != 0 {
		t.Fatalf("sim: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "connected 10/10") || !strings.Contains(out, "unacked    0") || !strings.Contains(out, "dropped    0") {
		t.Fatalf("progress or summary wrong:\n%s\n%s", errOut, out)
	}
	ledger, err := firmwaresim.ReadLedger(ledgerPath)
	if err != nil {
		t.Fatal(err)
	}
	if ledger.Site() != cfg.Site || len(ledger.Devices()) < 9 || ledger.AckedCount() < 200 {
		t.Fatalf("ledger: site %q, %d devices, %d acked", ledger.Site(), len(ledger.Devices()), ledger.AckedCount())
	}

	resp, err := http.Get("http://" + edge.HTTPAddr().String() + "/v1/streams")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var streams tributaryv1.ListStreamsResponse
	if err := protojson.Unmarshal(body, &streams); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	stored := map[string]uint64{}
	var total uint64
	for _, s := range streams.GetStreams() {
		for _, p := range s.GetPartitions() {
			stored[s.GetName()] += p.GetNextOffset() - p.GetStartOffset()
			total += p.GetNextOffset() - p.GetStartOffset()
		}
	}
	// A clean run sends each message once, so the spool holds exactly what
	// was acknowledged.
	if total != ledger.AckedCount() || stored["telemetry"] == 0 || stored["vibration"] == 0 {
		t.Fatalf("edge stored %v (%d in all), ledger acked %d", stored, total, ledger.AckedCount())
	}
}

func TestSimCommandErrors(t *testing.T) {
	for _, args := range [][]string{
		{"sim", "--profile", "kettle"},
		{"sim", "--rate", "fast"},
		{"sim", "--qos", "2"},
		{"sim", "--devices", "0"},
		{"sim", "--site", "Plant 1", "--duration", "1ms"},
	} {
		ledger := filepath.Join(t.TempDir(), "ledger.txt")
		if code, _, errOut := tributary(t, append(args, "--ledger", ledger)...); code != exitUsage || errOut == "" {
			t.Errorf("%v: exit %d, %q; want %d and a message", args, code, errOut, exitUsage)
		}
		if _, err := os.Stat(ledger); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v: a ledger was written for a run that never started (%v)", args, err)
		}
	}
	code, _, errOut := tributary(t, "sim", "--broker", "tcp://127.0.0.1:1", "--devices", "1", "--duration", "300ms",
		"--ledger", filepath.Join(t.TempDir(), "l.txt"))
	if code != exitFailure || !strings.Contains(errOut, "no device could connect") {
		t.Fatalf("no broker: exit %d, %q", code, errOut)
	}
}
