package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/gateway"
	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/ingest"
	"github.com/tributary-io/tributary/internal/testcert"
)

// mosquittoClients finds Debian's mosquitto_pub and mosquitto_sub. CI
// installs them (mosquitto-clients); elsewhere the test is skipped
// without them.
func mosquittoClients(t *testing.T) {
	t.Helper()
	for _, c := range []string{"mosquitto_pub", "mosquitto_sub"} {
		if _, err := exec.LookPath(c); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found; .ci/run installs mosquitto-clients", c)
			}
			t.Skipf("%s not found (Debian package mosquitto-clients)", c)
		}
	}
}

// mosq runs a mosquitto client and returns its exit code and output.
func mosq(t *testing.T, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("%s: %v", name, err)
	return 0, ""
}

// An edge node configured from files as a user would (password file,
// server certificate, client CA, ACL) serves Debian's mosquitto clients
// over TCP, TLS and mutual TLS, and refuses what it must.
func TestMosquittoClients(t *testing.T) {
	mosquittoClients(t)
	dir := t.TempDir()
	ca, other := testcert.NewCA(t, "site CA"), testcert.NewCA(t, "someone else")
	caFile := ca.WriteCA(t, dir, "ca.crt")
	srvCert, srvKey := testcert.WritePair(t, ca.Server(t), dir, "server")
	devCert, devKey := testcert.WritePair(t, ca.Client(t, "dev-7"), dir, "dev-7")
	badCert, badKey := testcert.WritePair(t, other.Client(t, "dev-7"), dir, "forged")
	hash, err := ingest.HashPassword([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	passwd := filepath.Join(dir, "passwd")
	if err := os.WriteFile(passwd, []byte("dev-1:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgText := `
role: edge
site: plant-01
data_dir: ` + filepath.Join(dir, "data") + `
http: {listen: "127.0.0.1:0"}
grpc: {listen: "127.0.0.1:0"}
mqtt:
  listen: 127.0.0.1:0
  tls:
    listen: 127.0.0.1:0
    cert_file: ` + srvCert + `
    key_file: ` + srvKey + `
    client_ca_file: ` + caFile + `
  password_file: ` + passwd + `
  acl:
    - users: ["*"]
      publish: ["sensors/+/{username}/#"]
    - users: [dev-1]
      subscribe: ["sensors/#"]
  limits:
    max_packet_size: 4KiB
  routes:
    - topic: sensors/{site}/{device}/{metric}
      stream: telemetry
      key: "{device}"
      format: json
`
	cfg, err := config.Parse("edge.yaml", []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, *cfg)
	host, tcpPort, _ := net.SplitHostPort(n.MQTTAddr())
	_, tlsPort, _ := net.SplitHostPort(n.MQTTListenerAddr(ingest.ListenerTLS))
	tcp := []string{"-h", host, "-p", tcpPort}
	tlsArgs := []string{"-h", "localhost", "-p", tlsPort, "--cafile", caFile}
	pub := func(args ...string) (int, string) {
		return mosq(t, "mosquitto_pub", append([]string{"-q", "1"}, args...)...)
	}

	// A local subscriber (dev-1 may read sensors/#) sees what is stored.
	subDone := make(chan string, 1)
	go func() {
		_, out := mosq(t, "mosquitto_sub", append(tcp, "-u", "dev-1", "-P", "s3cret", "-t", "sensors/#", "-C", "3", "-W", "25", "-v")...)
		subDone <- out
	}()
	waitFor(t, func() bool { return strings.Contains(metrics(t, n), `tributary_mqtt_connections{listener="tcp"} 1`) })

	for _, tc := range []struct {
		name string
		args []string
		ok   bool   // exit code 0; mosquitto_pub exits 0 after a refused publish, with a warning
		says string // in mosquitto's output
	}{
		{"password over TCP, MQTT 3.1.1", append(tcp, "-u", "dev-1", "-P", "s3cret", "-t", "sensors/p/dev-1/v", "-m", `{"v":1}`), true, ""},
		{"password over TLS, MQTT 5", append(tlsArgs, "-V", "mqttv5", "-u", "dev-1", "-P", "s3cret", "-t", "sensors/p/dev-1/v", "-m", `{"v":2}`), true, ""},
		{"client certificate (mTLS)", append(tlsArgs, "--cert", devCert, "--key", devKey, "-t", "sensors/p/dev-7/v", "-m", `{"v":3}`), true, ""},
		{"wrong password", append(tcp, "-u", "dev-1", "-P", "guess", "-t", "sensors/p/dev-1/v", "-m", `{}`), false, "not authorised"},
		{"anonymous", append(tcp, "-t", "sensors/p/dev-1/v", "-m", `{}`), false, "not authorised"},
		{"certificate from an unknown CA", append(tlsArgs, "--cert", badCert, "--key", badKey, "-t", "sensors/p/dev-7/v", "-m", `{}`), false, "connection was lost"},
		{"ACL denial, MQTT 5", append(tlsArgs, "-V", "mqttv5", "--cert", devCert, "--key", devKey, "-t", "sensors/p/dev-1/v", "-m", `{}`), true, "publish 1 failed: not authorized"},
		{"invalid JSON, MQTT 5", append(tcp, "-V", "mqttv5", "-u", "dev-1", "-P", "s3cret", "-t", "sensors/p/dev-1/v", "-m", `{"v":`), true, "publish 1 failed: payload format invalid"},
		{"oversized packet, MQTT 5", append(tcp, "-V", "mqttv5", "-u", "dev-1", "-P", "s3cret", "-t", "sensors/p/dev-1/v", "-m", `{"v":"`+strings.Repeat("x", 5000)+`"}`), false, "connection was lost"},
	} {
		code, out := pub(tc.args...)
		t.Logf("%s: exit %d: %s", tc.name, code, strings.TrimSpace(out))
		if (code == 0) != tc.ok || !strings.Contains(strings.ToLower(out), tc.says) {
			t.Errorf("%s: exit code %d, output %q; want success %v and %q", tc.name, code, out, tc.ok, tc.says)
		}
	}
	select {
	case out := <-subDone:
		for _, want := range []string{`sensors/p/dev-1/v {"v":1}`, `sensors/p/dev-1/v {"v":2}`, `sensors/p/dev-7/v {"v":3}`} {
			if !strings.Contains(out, want) {
				t.Errorf("mosquitto_sub output lacks %q:\n%s", want, out)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("mosquitto_sub did not finish")
	}
	m := metrics(t, n)
	for _, want := range []string{
		`tributary_spool_appended_records_total{stream="telemetry"} 3`,
		`tributary_mqtt_connects_total{result="bad_credentials"} 1`,
		`tributary_mqtt_connects_total{result="not_authorized"} 1`,
		`tributary_mqtt_denied_total{action="publish"} 1`,
		`tributary_mqtt_refused_total{reason="payload"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func metrics(t *testing.T, n *gateway.Node) string {
	t.Helper()
	_, body := get(t, "http://"+n.HTTPAddr().String()+"/metrics")
	return body
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20 s")
		}
	}
}
