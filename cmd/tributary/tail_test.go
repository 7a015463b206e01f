package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// startTailNode starts an edge node that takes records over HTTP without a
// token, with stream telemetry of two partitions, and returns its
// addresses.
func startTailNode(t *testing.T) nodeAddrs {
	t.Helper()
	cfg := "role: edge\nsite: plant-01\ndata_dir: " + filepath.Join(t.TempDir(), "data") +
		"\nhttp:\n  listen: 127.0.0.1:0\n  allow_anonymous: true\ngrpc:\n  listen: 127.0.0.1:0\nmqtt:\n  listen: \"\"\n" +
		"streams:\n  - name: telemetry\n    partitions: 2\n    max_bytes: 64MiB\n"
	_, addrs := startBinaryAddrs(t, "edge", cfg)
	return addrs
}

// postRecords posts records and returns the partition of the first.
func postRecords(t *testing.T, addrs nodeAddrs, body string) int {
	t.Helper()
	resp, err := http.Post("http://"+addrs.HTTP+"/v1/streams/telemetry/records", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct {
		Offsets []struct {
			Partition int `json:"partition"`
		} `json:"offsets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != 200 || len(ans.Offsets) == 0 {
		t.Fatalf("ingest = %d, %v", resp.StatusCode, err)
	}
	return ans.Offsets[0].Partition
}

func TestTailPrintsWhatIsStoredAndExits(t *testing.T) {
	addrs := startTailNode(t)
	// One key: one partition, in order.
	postRecords(t, addrs, `{"records":[
		{"key":"meter-1","value":{"v":229.8},"time":"2026-11-29T10:00:00Z","headers":{"unit":"V"}},
		{"key":"meter-1","value":"AAEC","time":"2026-11-29T10:00:01Z"},
		{"key":"meter-1","value":{"v":230.1},"time":"2026-11-29T10:00:02Z"}]}`)

	code, out, stderr := tributary(t, "tail", "telemetry", "--addr", addrs.GRPC)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("tail = %d %q %q; want three lines", code, out, stderr)
	}
	p := strings.SplitN(lines[0], "/", 2)[0]
	for i, want := range []string{
		p + `/0 2026-11-29T10:00:00Z meter-1 unit=V {"v":229.8}`,
		p + `/1 2026-11-29T10:00:01Z meter-1 - base64:AAEC`,
		p + `/2 2026-11-29T10:00:02Z meter-1 - {"v":230.1}`,
	} {
		if lines[i] != want {
			t.Errorf("line %d = %q, want %q", i, lines[i], want)
		}
	}

	// JSON, from a time, one partition.
	code, out, stderr = tributary(t, "tail", "--addr", addrs.GRPC, "--format", "json", "--partition", p, "--from-time", "2026-11-29T10:00:01Z", "telemetry")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("tail --from-time = %d %q %q; want two lines", code, out, stderr)
	}
	var rec struct {
		Offset uint64          `json:"offset"`
		Key    string          `json:"key"`
		Value  json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil || rec.Offset != 2 || string(rec.Value) != `{"v":230.1}` {
		t.Errorf("json line %q: %+v, %v", lines[1], rec, err)
	}

	// --max, and --from-offset in each partition.
	if code, out, _ := tributary(t, "tail", "telemetry", "--addr", addrs.GRPC, "--from-offset", "1", "--max", "1"); code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "/1 ") {
		t.Errorf("tail --from-offset 1 --max 1 = %d %q", code, out)
	}
}

func TestTailErrors(t *testing.T) {
	addrs := startTailNode(t)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"tail", "ghost", "--addr", addrs.GRPC}, 2, `no stream "ghost"`},
		{[]string{"tail", "telemetry", "--addr", addrs.GRPC, "--partition", "5"}, 2, "partitions 0 to 1"},
		{[]string{"tail", "telemetry", "--addr", addrs.GRPC, "--from-offset", "1", "--from-end"}, 2, "at most one of"},
		{[]string{"tail", "telemetry", "--from-time", "yesterday"}, 2, "RFC 3339"},
		{[]string{"tail", "telemetry", "--format", "xml"}, 2, "want text or json"},
		{[]string{"tail"}, 2, "exactly one STREAM"},
		{[]string{"tail", "telemetry", "--addr", addrs.GRPC, "--from-offset", "99"}, 0, "partition 1: --from-offset 99 is past its end; reading from 0"},
		{[]string{"tail", "telemetry", "--addr", addrs.HTTP}, 1, "tail: "}, // not a gRPC listener
	} {
		code, _, stderr := tributary(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("tributary %v = %d %q; want %d with %q", c.args, code, stderr, c.code, c.msg)
		}
	}
}

// --follow waits for records that arrive after it started (or prints them
// at once if they came first), and --max ends it.
func TestTailFollow(t *testing.T) {
	addrs := startTailNode(t)
	p := postRecords(t, addrs, `{"records":[{"key":"k","value":{"v":0}}]}`)
	cmd := exec.Command(binary, "tail", "telemetry", "--addr", addrs.GRPC, "--follow", "--partition", strconv.Itoa(p), "--from-offset", "1", "--max", "2")
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	postRecords(t, addrs, `{"records":[{"key":"k","value":{"v":1}}]}`)
	postRecords(t, addrs, `{"records":[{"key":"k","value":{"v":2}},{"key":"k","value":{"v":3}}]}`)
	if err := cmd.Wait(); err != nil { // the test's deadline bounds this
		t.Fatalf("tail --follow --max 2 = %v; want exit 0 after two records", err)
	}
	want := fmt.Sprintf("%d/1 - k - {\"v\":1}\n%d/2 - k - {\"v\":2}\n", p, p)
	if got := dropTimes(out.String()); got != want {
		t.Fatalf("tail --follow printed %q; want %q", got, want)
	}
}

// dropTimes replaces the time column (the arrival time here) with "-".
func dropTimes(out string) string {
	lines := strings.SplitAfter(out, "\n")
	for i, l := range lines {
		if f := strings.SplitN(l, " ", 3); len(f) == 3 {
			lines[i] = f[0] + " - " + f[2]
		}
	}
	return strings.Join(lines, "")
}
