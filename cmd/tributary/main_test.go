package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is the real tributary binary, built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tributary-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "tributary")
	args := []string{"build", "-o", binary}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tributary:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tributary runs the binary to completion and returns its exit code and output.
func tributary(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("run tributary %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := tributary(t, "version")
	if code != 0 || !strings.HasPrefix(out, "tributary dev (commit ") || !strings.Contains(out, "go1.") {
		t.Fatalf("version = %d %q", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"config"}, {"config", "validate"}, {"edge"}, {"version", "extra"}} {
		if code, _, stderr := tributary(t, args...); code != 2 || stderr == "" {
			t.Errorf("tributary %v = exit %d, stderr %q; want exit 2 and a message", args, code, stderr)
		}
	}
	if code, out, _ := tributary(t, "help"); code != 0 || !strings.Contains(out, "edge") {
		t.Errorf("help = %d %q", code, out)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, f := range []string{"../../configs/edge.yaml", "../../configs/hub.yaml"} {
		if code, out, stderr := tributary(t, "config", "validate", "-c", f); code != 0 || out != "ok\n" {
			t.Errorf("validate %s = %d %q %q, want 0 ok", f, code, out, stderr)
		}
	}

	bad := writeFile(t, "bad.yaml", "role: edge\nsite: plant-01\nhttp:\n  listn: 127.0.0.1:8080\nshutdown_timeout: forever\n")
	code, out, stderr := tributary(t, "config", "validate", "-c", bad)
	if code != 2 || out != "" {
		t.Fatalf("validate bad = %d %q, want exit 2 and nothing on stdout", code, out)
	}
	// Every error, each with the file, line and key path.
	for _, want := range []string{bad + ":4: http.listn:", bad + ":5: shutdown_timeout:"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	if code, _, stderr := tributary(t, "config", "validate", "-c", "no-such-file.yaml"); code != 2 || !strings.Contains(stderr, "no-such-file.yaml") {
		t.Errorf("validate missing file = %d %q", code, stderr)
	}
}

func TestNodeRefusesTheWrongRole(t *testing.T) {
	code, _, stderr := tributary(t, "edge", "-c", "../../configs/hub.yaml")
	if code != 2 || !strings.Contains(stderr, "tributary hub") {
		t.Fatalf("edge with a hub config = %d %q, want exit 2 pointing at `tributary hub`", code, stderr)
	}
}

// The acceptance check of the foundation: the real binary serves /healthz and
// /metrics on real ports and exits 0 within 5 s of SIGTERM.
func TestNodeServesAndStopsOnSignal(t *testing.T) {
	for _, role := range []string{"edge", "hub"} {
		t.Run(role, func(t *testing.T) {
			cfg := fmt.Sprintf("role: %s\n%sdata_dir: %s\nhttp:\n  listen: 127.0.0.1:0\ngrpc:\n  listen: 127.0.0.1:0\n",
				role, map[string]string{"edge": "site: plant-01\nmqtt:\n  listen: 127.0.0.1:0\n"}[role], filepath.Join(t.TempDir(), "data"))
			cmd, httpAddr := startBinary(t, role, cfg)

			for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ok", "/metrics": `tributary_build_info{`} {
				resp, err := http.Get("http://" + httpAddr + path)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
					t.Errorf("GET %s = %d, body lacks %q", path, resp.StatusCode, want)
				}
			}

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("after SIGTERM: %v, want exit 0", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("still running 5 s after SIGTERM")
			}
		})
	}
}

// startBinary runs the binary as a node of role with the config text cfg,
// waits until it has started, and returns it and its HTTP address. The
// test's cleanup kills it if it still runs.
func startBinary(t *testing.T, role, cfg string) (*exec.Cmd, string) {
	t.Helper()
	cmd, addrs := startBinaryAddrs(t, role, cfg)
	return cmd, addrs.HTTP
}

// nodeAddrs are the bound addresses a node logs when it has started.
type nodeAddrs struct {
	HTTP string `json:"http"`
	GRPC string `json:"grpc"`
}

// startBinaryAddrs is startBinary, returning every address.
func startBinaryAddrs(t *testing.T, role, cfg string) (*exec.Cmd, nodeAddrs) {
	t.Helper()
	cmd := exec.Command(binary, role, "-c", writeFile(t, role+".yaml", cfg), "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	logs := bufio.NewScanner(stderr)
	addrs := startedAddrs(t, logs)
	go func() { // keep draining the logs so the node never blocks on them
		for logs.Scan() {
		}
	}()
	return cmd, addrs
}

// startedAddrs reads JSON log lines until the "node started" one and
// returns its addresses.
func startedAddrs(t *testing.T, logs *bufio.Scanner) nodeAddrs {
	t.Helper()
	for logs.Scan() {
		var line struct {
			Msg string `json:"msg"`
			nodeAddrs
		}
		if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %q", logs.Text())
		}
		if line.Msg == "node started" {
			return line.nodeAddrs
		}
	}
	t.Fatalf("node exited before it started: %v", logs.Err())
	return nodeAddrs{}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
