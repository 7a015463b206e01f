package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	firmwaresim "github.com/tributary-io/tributary/firmware-sim"
	"github.com/tributary-io/tributary/gateway/config"
)

// postMessages stores simulator messages of device at the edge over HTTP,
// as the MQTT route would: key = device, value = the message JSON.
func postMessages(t *testing.T, edgeHTTP, device string, seqs ...uint64) {
	t.Helper()
	type rec struct {
		Key   string              `json:"key"`
		Value firmwaresim.Message `json:"value"`
	}
	var body struct {
		Records []rec `json:"records"`
	}
	for _, s := range seqs {
		body.Records = append(body.Records, rec{device, firmwaresim.Message{Device: device, Seq: s, Time: time.Now().UTC(),
			Profile: "smart_meter", Values: map[string]float64{"voltage": 229.8}}})
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+edgeHTTP+"/v1/streams/telemetry/records", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest: %s", resp.Status)
	}
}

// The real binary checks a real hub fed by a real edge over replication:
// exit 0 with the summary when the ledger matches, exit 1 naming the
// missing range when the ledger claims one more acknowledged message.
func TestVerifyCommand(t *testing.T) {
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

	ledger := firmwaresim.NewLedger("plant-07")
	for _, dev := range []string{"meter-0001", "meter-0002", "pmu-0001"} {
		var seqs []uint64
		for s := range uint64(40) {
			seqs = append(seqs, s)
			ledger.Ack(dev, s)
		}
		postMessages(t, edge.HTTPAddr().String(), dev, seqs...)
	}
	// meter-0001 sent 7 again after a lost PUBACK: both copies stored.
	postMessages(t, edge.HTTPAddr().String(), "meter-0001", 7)
	ledger.Resent("meter-0001", 7)
	good := filepath.Join(t.TempDir(), "ledger.txt")
	if err := ledger.WriteFile(good); err != nil {
		t.Fatal(err)
	}

	addr := hub.GRPCAddr().String()
	// --until: replication may still be draining.
	code, out, errOut := tributary(t, "verify", "--ledger", good, "--addr", addr, "--until", "30s")
	want := "verify: 3 devices, 120 acked, 121 at the hub: 0 missing, 0 duplicated (1 resent duplicate explained by QoS 1), 0 out of order — OK\n"
	if code != exitOK || !strings.HasPrefix(out, want) {
		t.Fatalf("verify = exit %d\n%s%s\nwant exit 0 and %s", code, out, errOut, want)
	}

	// The edge's own spool holds the same records, without a site header.
	if code, out, errOut := tributary(t, "verify", "--ledger", good, "--addr", edge.GRPCAddr().String(), "--include-unlabelled"); code != exitOK {
		t.Errorf("verify at the edge = exit %d\n%s%s", code, out, errOut)
	}

	// A ledger that claims meter-0002's 40 and 41 were acknowledged too.
	ledger.Ack("meter-0002", 40)
	ledger.Ack("meter-0002", 41)
	bad := filepath.Join(t.TempDir(), "ledger-extra.txt")
	if err := ledger.WriteFile(bad); err != nil {
		t.Fatal(err)
	}
	code, out, _ = tributary(t, "verify", "--ledger", bad, "--addr", addr)
	if code != exitFailure || !strings.Contains(out, "2 missing") || !strings.Contains(out, "— FAILED") ||
		!strings.Contains(out, "meter-0002: missing 40-41 (2 of 42 acked)") {
		t.Fatalf("verify with an extra acked range = exit %d, want 1 and the range:\n%s", code, out)
	}

	code, out, _ = tributary(t, "verify", "--ledger", bad, "--addr", addr, "--json")
	var rep struct {
		OK       bool `json:"ok"`
		Missing  int  `json:"missing"`
		Problems []struct {
			Device  string `json:"device"`
			Missing string `json:"missing"`
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitFailure || rep.OK || rep.Missing != 2 ||
		len(rep.Problems) != 1 || rep.Problems[0].Missing != "40-41" {
		t.Fatalf("--json = exit %d, %v:\n%s", code, err, out)
	}
}

// The end-to-end check with Kafka: a simulated fleet publishes to
// a real edge node (configs/edge.yaml), which replicates to a hub with
// replication.sink: kafka writing into an in-process Kafka cluster; the
// real binary reads the topics and finds every acknowledged message once.
func TestVerifyCommandKafka(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	brokers := strings.Join(kc.ListenAddrs(), ",")
	hubFile := writeFile(t, "hub.yaml", fmt.Sprintf(`role: hub
data_dir: %s
http: {listen: "127.0.0.1:0"}
grpc: {listen: "127.0.0.1:0"}
replication:
  listen: 127.0.0.1:0
  plaintext: true
  allow_anonymous: true
  sink: kafka
  kafka:
    brokers: [%s]
    create_topics: true
    partitions: 4
`, filepath.Join(t.TempDir(), "hub"), brokers))
	hc, err := config.Load(hubFile)
	if err != nil {
		t.Fatal(err)
	}
	hub := startTestNode(t, *hc)

	ec, err := config.Load("../../configs/edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ec.DataDir = filepath.Join(t.TempDir(), "edge")
	ec.HTTP.Listen, ec.GRPC.Listen, ec.MQTT.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	ec.Upstream.Hub, ec.Upstream.Plaintext = hub.ReplicationAddr().String(), true
	ec.Upstream.Heartbeat = config.Duration(100 * time.Millisecond)
	edge := startTestNode(t, *ec)

	ledger := filepath.Join(t.TempDir(), "ledger.txt")
	if code, out, errOut := tributary(t, "sim", "--broker", "tcp://"+edge.MQTTAddr(), "--site", ec.Site, "--profile", "mix",
		"--devices", "10", "--rate", "20/s", "--duration", "1s", "--ledger", ledger); code != exitOK {
		t.Fatalf("sim: exit %d\n%s\n%s", code, out, errOut)
	}
	l, err := firmwaresim.ReadLedger(ledger)
	if err != nil {
		t.Fatal(err)
	}
	if l.AckedCount() < 100 {
		t.Fatalf("the fleet had only %d messages acknowledged: the check would prove little", l.AckedCount())
	}

	// --until: replication may still be draining.
	code, out, errOut := tributary(t, "verify", "--ledger", ledger, "--kafka", brokers, "--until", "30s")
	want := fmt.Sprintf("verify: 10 devices, %s acked, ", group(l.AckedCount()))
	if code != exitOK || !strings.HasPrefix(out, want) || !strings.Contains(out, " in Kafka: 0 missing, 0 duplicated") ||
		!strings.Contains(out, "streams alarms, telemetry, telemetry-rbe, vibration;") {
		t.Fatalf("verify --kafka = exit %d\n%s%s\nwant exit 0, %q… in Kafka: 0 missing, 0 duplicated, and the topics configs/edge.yaml replicates", code, out, errOut, want)
	}
	// The same, with the brokers and checkpoint topic from the hub's config.
	if code, out, errOut := tributary(t, "verify", "--ledger", ledger, "--kafka-config", hubFile, "--json"); code != exitOK ||
		!strings.Contains(out, `"source": "kafka"`) || !strings.Contains(out, `"site_known": true`) {
		t.Fatalf("verify --kafka-config = exit %d\n%s%s", code, out, errOut)
	}

	// A ledger that claims one more message of a device was acknowledged.
	dev := l.Devices()[0]
	acked := l.Acked(dev)
	next := acked[len(acked)-1].Last + 1
	l.Ack(dev, next)
	bad := filepath.Join(t.TempDir(), "ledger-extra.txt")
	if err := l.WriteFile(bad); err != nil {
		t.Fatal(err)
	}
	var count uint64
	for _, r := range l.Acked(dev) {
		count += r.Last - r.First + 1
	}
	code, out, _ = tributary(t, "verify", "--ledger", bad, "--kafka", brokers, "--topics", "telemetry,alarms,vibration")
	if wantLine := fmt.Sprintf("%s: missing %d (1 of %d acked)", dev, next, count); code != exitFailure ||
		!strings.Contains(out, "1 missing") || !strings.Contains(out, wantLine) {
		t.Fatalf("verify with an extra acked message = exit %d, want 1 and %q:\n%s", code, wantLine, out)
	}
	if code, _, errOut := tributary(t, "verify", "--ledger", ledger, "--kafka", brokers, "--topics", "telemetry,nope"); code != exitUsage ||
		!strings.Contains(errOut, `topic "nope": no such stream in Kafka; it has: alarms, telemetry, telemetry-rbe, vibration`) {
		t.Fatalf("an unknown topic = exit %d, %q; want 2 and the topics there are", code, errOut)
	}
}

// group is n with thousands separators, as the summary writes it.
func group(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func TestVerifyCommandErrors(t *testing.T) {
	badLedger := writeFile(t, "ledger.txt", "# tributary-sim ledger v1\nsite p\nmeter acked 5-3 resent -\n")
	good := writeFile(t, "good.txt", "# tributary-sim ledger v1\nsite p\nmeter acked 0-3 resent -\n")
	spoolHub := writeFile(t, "hub.yaml", "role: hub\ndata_dir: data\n")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"verify"}, exitUsage, "--ledger FILE is required"},
		{[]string{"verify", "--ledger", badLedger}, exitUsage, badLedger + ":3: acked: bad range"},
		{[]string{"verify", "--ledger", "no-such-ledger.txt"}, exitUsage, "no-such-ledger.txt"},
		{[]string{"verify", "--ledger", good, "--until", "-1s"}, exitUsage, "--until"},
		{[]string{"verify", "--ledger", good, "extra"}, exitUsage, "extra"},
		{[]string{"verify", "--ledger", good, "--addr", "127.0.0.1:1", "--streams", "telemetry"}, exitFailure, "127.0.0.1:1"},
		{[]string{"verify", "--ledger", good, "--kafka", "127.0.0.1:9092", "--addr", "127.0.0.1:9091"}, exitUsage, "exclude each other"},
		{[]string{"verify", "--ledger", good, "--kafka", "127.0.0.1:9092", "--streams", "telemetry"}, exitUsage, "--topics names the topics"},
		{[]string{"verify", "--ledger", good, "--topics", "telemetry"}, exitUsage, "--topics is for Kafka"},
		{[]string{"verify", "--ledger", good, "--kafka", "kafka-1"}, exitUsage, `host:port such as kafka-1:9092; got "kafka-1"`},
		{[]string{"verify", "--ledger", good, "--kafka-config", spoolHub}, exitUsage, "replication.sink is spool, not kafka"},
		{[]string{"verify", "--ledger", good, "--kafka-config", "no-such-hub.yaml"}, exitUsage, "no-such-hub.yaml"},
	} {
		code, _, errOut := tributary(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("tributary %v = exit %d, %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	if code, _, errOut := tributary(t, "verify", "-h"); code != exitOK || !strings.Contains(errOut, "1 problems found") {
		t.Errorf("verify -h = exit %d, %q; want 0 and the exit codes", code, errOut)
	}
}
