package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// A token made with `token new` lets a client in, on its streams only, once
// its line is in the node's tokens file.
func TestTokenNewLetsAClientIn(t *testing.T) {
	code, out, stderr := tributary(t, "token", "new", "meter-gw", "--streams", "telemetry")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[1], "trb_") || !strings.HasPrefix(lines[3], "meter-gw ") {
		t.Fatalf("token new = %d %q %q", code, out, stderr)
	}
	token, line := lines[1], lines[3]
	if strings.Contains(line, token) || !strings.HasSuffix(line, " telemetry") {
		t.Fatalf("line %q: want the hash and the streams, not the token", line)
	}
	tokensFile := writeFile(t, "tokens", "# who may send\n"+line+"\n")
	cfg := "role: edge\nsite: plant-01\ndata_dir: " + filepath.Join(t.TempDir(), "data") +
		"\nhttp:\n  listen: 127.0.0.1:0\n  tokens_file: " + tokensFile + "\ngrpc:\n  listen: 127.0.0.1:0\nmqtt:\n  listen: \"\"\n" +
		"streams:\n  - name: telemetry\n    max_bytes: 64MiB\n  - name: alarms\n    max_bytes: 64MiB\n"
	if code, out, stderr := tributary(t, "config", "validate", "-c", writeFile(t, "edge.yaml", cfg)); code != 0 || out != "ok\n" {
		t.Fatalf("config validate = %d %q %q", code, out, stderr)
	}
	_, addr := startBinary(t, "edge", cfg)
	for _, tc := range []struct {
		stream, auth string
		want         int
	}{
		{"telemetry", "Bearer " + token, 200},
		{"telemetry", "", 401},
		{"telemetry", "Bearer " + token + "x", 401},
		{"alarms", "Bearer " + token, 403},
	} {
		req, err := http.NewRequest("POST", "http://"+addr+"/v1/streams/"+tc.stream+"/records", strings.NewReader(`{"records":[{"value":{"v":1}}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST to %s with %.12q… = %d, want %d", tc.stream, tc.auth, resp.StatusCode, tc.want)
		}
	}
}

func TestTokenUsageAndBadTokensFile(t *testing.T) {
	for _, args := range [][]string{{"token"}, {"token", "new"}, {"token", "new", "a", "b"}, {"token", "new", "bad name"}, {"token", "new", "a", "--streams", "x y"}} {
		if code, _, stderr := tributary(t, args...); code != 2 || stderr == "" {
			t.Errorf("tributary %q = exit %d, stderr %q; want exit 2 and a message", args, code, stderr)
		}
	}
	if code, out, _ := tributary(t, "token", "new", "--streams", "a,b", "gw"); code != 0 || !strings.Contains(out, "\ngw ") || !strings.HasSuffix(out, " a,b\n") {
		t.Errorf("flags before NAME = %d %q", code, out)
	}

	tokensFile := writeFile(t, "tokens", "gw 1234 telemetry\n")
	cfg := writeFile(t, "edge.yaml", "role: edge\nsite: plant-01\nhttp:\n  tokens_file: "+tokensFile+"\n")
	code, _, stderr := tributary(t, "config", "validate", "-c", cfg)
	if want := "http.tokens_file: " + tokensFile + ":1: gw: the hash must be 64 hex digits"; code != 2 || !strings.Contains(stderr, want) {
		t.Fatalf("validate with a bad tokens file = %d %q, want exit 2 and %q", code, stderr, want)
	}
	if code, _, stderr := tributary(t, "edge", "-c", cfg); code != 2 || !strings.Contains(stderr, tokensFile+":1:") {
		t.Fatalf("edge with a bad tokens file = %d %q, want exit 2 naming FILE:LINE", code, stderr)
	}
}
