package gateway_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/gateway/config"
)

// A node runs its pipelines: records posted to telemetry come out of the
// derived stream filtered, mapped and deadbanded, and a shutdown commits
// what was processed.
func TestNodeRunsPipelines(t *testing.T) {
	cfg := anonymousConfig(t)
	rbe := config.DefaultStream("telemetry-rbe")
	rbe.MaxBytes = 64 * config.MiB // with telemetry's 1 GiB, within a 32-bit platform's 1.5 GiB
	cfg.Streams = append(cfg.Streams, rbe)
	cfg.Pipelines = []config.Pipeline{{
		Name: "rbe", From: "telemetry", To: "telemetry-rbe", Late: "drop",
		Steps: []config.Step{
			{Filter: `headers.metric == "voltage"`},
			{Map: `{"v": v, "kv": v / 1000}`},
			{Deadband: &config.Deadband{Fields: []string{"v"}, Absolute: 1}},
		},
	}}
	n := startNode(t, cfg)
	body := `{"records": [
		{"key": "m1", "value": {"v": 230}, "time": 1000, "headers": {"metric": "voltage"}},
		{"key": "m1", "value": {"v": 230.5}, "time": 2000, "headers": {"metric": "voltage"}},
		{"key": "m1", "value": {"v": 5}, "time": 2500, "headers": {"metric": "current"}},
		{"key": "m1", "value": {"v": 232}, "time": 3000, "headers": {"metric": "voltage"}}
	]}`
	if r := postJSON(t, recordsURL(n, "telemetry"), body); r.code != 200 {
		t.Fatalf("POST = %d %s", r.code, r.body)
	}
	want := []string{`m1 {"kv":0.23,"v":230}`, `m1 {"kv":0.232,"v":232}`}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, metrics := get(t, "http://"+n.HTTPAddr().String()+"/metrics")
		if code == 200 && strings.Contains(metrics, `tributary_aggregator_records_out_total{pipeline="rbe"} 2`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no output after 10s; metrics:\n%s", grep(metrics, "tributary_aggregator"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	var got []string
	for _, r := range storedRecords(t, n, cfg, "telemetry-rbe") {
		got = append(got, string(r.Key)+" "+string(r.Value))
	}
	if !slices.Equal(got, want) {
		t.Errorf("derived %q, want %q", got, want)
	}
}

func grep(text, word string) string {
	var out []string
	for l := range strings.Lines(text) {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
