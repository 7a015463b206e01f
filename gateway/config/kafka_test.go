package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// DialOpts turns tls and sasl into client options, and says what is wrong
// with them.
func TestKafkaDialOpts(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "kafka.password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k := defaultKafka("test")
	if opts, err := k.DialOpts(); err != nil || len(opts) != 0 {
		t.Fatalf("no tls, no sasl: %d options, %v", len(opts), err)
	}
	k.TLS.Enabled = true
	k.SASL = KafkaSASL{Mechanism: "scram-sha-512", Username: "hub", PasswordFile: pw}
	if opts, err := k.DialOpts(); err != nil || len(opts) != 2 {
		t.Fatalf("tls and sasl: %d options, %v; want 2", len(opts), err)
	}
	k.SASL.PasswordFile = filepath.Join(t.TempDir(), "missing")
	if _, err := k.DialOpts(); err == nil || !strings.Contains(err.Error(), "sasl.password_file") {
		t.Fatalf("missing password file: %v", err)
	}
	k.SASL = KafkaSASL{Mechanism: "gssapi", Username: "hub", PasswordFile: pw}
	if _, err := k.DialOpts(); err == nil || !strings.Contains(err.Error(), "gssapi") {
		t.Fatalf("unknown mechanism: %v", err)
	}
}
