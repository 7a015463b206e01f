package main

import (
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/internal/testcert"
	"github.com/tributary-io/tributary/internal/tokens"
)

// tokenLine makes a token for streams and returns it and its tokens-file
// line.
func tokenLine(t *testing.T, name, streams string) (token, line string) {
	t.Helper()
	token, err := tokens.New()
	if err != nil {
		t.Fatal(err)
	}
	if line, err = tokens.Line(name, token, strings.Split(streams, ",")); err != nil {
		t.Fatal(err)
	}
	return token, line
}

// tail, against an edge serving its API over TLS with read tokens: the
// CA and a token get the records; no token, a token of another stream or
// the wrong CA get a clear refusal.
func TestTailAgainstATLSAndTokenNode(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "api CA")
	caFile := ca.WriteCA(t, dir, "ca.crt")
	otherCA := testcert.NewCA(t, "someone else").WriteCA(t, dir, "other.crt")
	cert, key := testcert.WritePair(t, ca.Server(t), dir, "node")
	tok, line := tokenLine(t, "dashboard", "telemetry")
	alarmsTok, alarmsLine := tokenLine(t, "alarms-only", "alarms")
	tokensFile := writeFile(t, "tokens", line+"\n"+alarmsLine+"\n")
	tokenFile := writeFile(t, "dashboard.token", "# the dashboard's read token\n"+tok+"\n")
	tlsKeys := "\n  tls:\n    cert_file: " + cert + "\n    key_file: " + key
	cfg := "role: edge\nsite: plant-01\ndata_dir: " + filepath.Join(dir, "data") +
		"\nhttp:\n  listen: 127.0.0.1:0\n  tokens_file: " + tokensFile + tlsKeys +
		"\ngrpc:\n  listen: 127.0.0.1:0" + tlsKeys + "\nmqtt:\n  listen: \"\"\n" +
		"streams:\n  - name: telemetry\n    partitions: 1\n    max_bytes: 64MiB\n  - name: alarms\n    partitions: 1\n    max_bytes: 64MiB\n"
	_, addrs := startBinaryAddrs(t, "edge", cfg)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	req, err := http.NewRequest(http.MethodPost, "https://"+addrs.HTTP+"/v1/streams/telemetry/records",
		strings.NewReader(`{"records":[{"key":"meter-1","value":{"v":229.8},"time":"2026-11-29T10:00:00Z"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ingest over HTTPS = %d", resp.StatusCode)
	}

	want := `0/0 2026-11-29T10:00:00Z meter-1 - {"v":229.8}`
	code, out, stderr := tributary(t, "tail", "telemetry", "--addr", addrs.GRPC, "--tls-ca", caFile, "--token-file", tokenFile)
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("tail = %d %q %q; want %q", code, out, stderr, want)
	}
	code, out, stderr = tributary(t, "tail", "telemetry", "--addr", addrs.GRPC, "--tls-ca", caFile, "--tls-server-name", "localhost", "--token-file", tokenFile)
	if code != 0 || strings.TrimSpace(out) != want {
		t.Errorf("tail --tls-server-name localhost = %d %q %q", code, out, stderr)
	}
	t.Setenv(tokenEnv, tok)
	if code, out, stderr = tributary(t, "tail", "telemetry", "--addr", addrs.GRPC, "--tls-ca", caFile); code != 0 || strings.TrimSpace(out) != want {
		t.Errorf("tail with $%s = %d %q %q", tokenEnv, code, out, stderr)
	}
	t.Setenv(tokenEnv, "")

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no token", []string{"--tls-ca", caFile}, 1, "wants a read token (--token-file FILE or $TRIBUTARY_TOKEN): missing bearer token"},
		{"token of another stream", []string{"--tls-ca", caFile, "--token-file", writeFile(t, "alarms.token", alarmsTok)}, 1,
			`refused: token not allowed on this stream: token "alarms-only" may not read stream "telemetry"`},
		{"wrong CA", []string{"--tls-ca", otherCA, "--token-file", tokenFile}, 1, "certificate signed by unknown authority"},
		{"plaintext", []string{"--token-file", tokenFile}, 1, "does it serve TLS, which needs --tls-ca or --tls?"},
		{"no such CA file", []string{"--tls-ca", filepath.Join(dir, "absent.crt")}, 2, "tail: --tls-ca: open "},
		{"empty token file", []string{"--token-file", writeFile(t, "empty.token", "# nothing\n")}, 2, "holds no token"},
		{"cert without key", []string{"--tls-cert", cert}, 2, "tail: --tls-cert and --tls-key go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"tail", "telemetry", "--addr", addrs.GRPC}, tc.args...)
			code, out, stderr := tributary(t, args...)
			if code != tc.code || out != "" || !strings.Contains(stderr, tc.want) {
				t.Fatalf("= %d %q %q; want %d and %q", code, out, stderr, tc.code, tc.want)
			}
		})
	}
}

// sites, against a hub whose reads need a token.
func TestSitesWithAToken(t *testing.T) {
	hc := config.Default(config.RoleHub)
	hc.DataDir = filepath.Join(t.TempDir(), "hub")
	hc.HTTP.Listen, hc.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	tok, line := tokenLine(t, "ops", "*")
	hc.HTTP.TokensFile = writeFile(t, "hub.tokens", line+"\n")
	hc.Replication.Listen, hc.Replication.Plaintext, hc.Replication.AllowAnonymous = "127.0.0.1:0", true, true
	hub := startTestNode(t, hc)
	addr := hub.GRPCAddr().String()
	if code, out, stderr := tributary(t, "sites", "--addr", addr); code != 1 || !strings.Contains(stderr, "Unauthenticated") {
		t.Errorf("sites without a token = %d %q %q", code, out, stderr)
	}
	if code, out, stderr := tributary(t, "sites", "--addr", addr, "--token-file", writeFile(t, "ops.token", tok)); code != 0 || !strings.HasPrefix(out, "SITE") {
		t.Errorf("sites with a token = %d %q %q", code, out, stderr)
	}
}
