package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/spool"
)

// makeSpool writes a small spool with a cursor, as a node would leave it.
func makeSpool(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "spool")
	s, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.EnsureStream(spool.StreamConfig{Name: "telemetry", Partitions: 2, MaxBytes: 1 << 20, Uncompressed: true}); err != nil {
		t.Fatal(err)
	}
	tx := new(spool.Txn).AppendTo("telemetry", 0,
		spool.Record{Key: []byte("m1"), Value: []byte("reading-MARK-one")},
		spool.Record{Key: []byte("m1"), Value: []byte("reading-MARK-two")}).
		SetCursor("forwarder", "telemetry", 0, 1, true)
	if _, err := s.Commit(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSpoolStatAndCheck(t *testing.T) {
	dir := makeSpool(t)
	code, out, stderr := tributary(t, "spool", "stat", "--dir", dir)
	if code != 0 {
		t.Fatalf("stat = %d %s", code, stderr)
	}
	for _, want := range []string{"epoch ", "telemetry  0          0      2", "forwarder  telemetry  0          1       true"} {
		if !strings.Contains(out, want) {
			t.Errorf("stat output lacks %q:\n%s", want, out)
		}
	}
	if code, out, _ := tributary(t, "spool", "check", "--dir", dir); code != 0 || !strings.HasSuffix(out, "ok\n") || !strings.Contains(out, "2 records") {
		t.Fatalf("check of a sound spool = %d:\n%s", code, out)
	}
	if code, out, _ := tributary(t, "spool", "stat", "--dir", dir, "--json"); code != 0 || !strings.Contains(out, `"Epoch"`) {
		t.Fatalf("stat --json = %d:\n%s", code, out)
	}
}

func TestSpoolCheckReportsDamage(t *testing.T) {
	dir := makeSpool(t)
	path := filepath.Join(dir, spool.FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := bytes.Index(b, []byte("MARK-two")); i >= 0; {
		b[i] ^= 0x01
		n++
		j := bytes.Index(b[i+1:], []byte("MARK-two"))
		if j < 0 {
			break
		}
		i += j + 1
	}
	if n == 0 {
		t.Fatal("marker not found")
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := tributary(t, "spool", "check", "--dir", dir)
	if code != 1 || !strings.Contains(out, `PROBLEM: stream "telemetry" partition 0 offsets 0 to 1 (2 records): damaged batch`) {
		t.Fatalf("check of a damaged spool = %d:\n%s", code, out)
	}
}

func TestSpoolCommandErrors(t *testing.T) {
	if code, _, stderr := tributary(t, "spool", "check", "--dir", filepath.Join(t.TempDir(), "none")); code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("check of a missing spool = %d %q", code, stderr)
	}
	if code, _, _ := tributary(t, "spool", "check"); code != 2 {
		t.Errorf("check without --dir = %d, want 2", code)
	}
	if code, _, _ := tributary(t, "spool", "frob"); code != 2 {
		t.Errorf("unknown spool subcommand = %d, want 2", code)
	}
}
