package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/ingest"
)

func TestPasswd(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	set := func(user, pw string) (int, string) {
		stdin = strings.NewReader(pw + "\n")
		t.Cleanup(func() { stdin = os.Stdin })
		var out, errOut bytes.Buffer
		code := run(t.Context(), []string{"passwd", "-f", file, "-u", user}, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := set("dev-1", "correct horse"); code != exitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	if code, out := set("dev-2", "battery staple"); code != exitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	if code, out := set("dev-1", "new password"); code != exitOK { // replaces
		t.Fatalf("exit %d: %s", code, out)
	}
	if code, out := set("dev-3", "short"); code != exitUsage || !strings.Contains(out, "at least 8") {
		t.Fatalf("short password: exit %d: %s", code, out)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v %v", fi.Mode(), err)
	}
	users, err := ingest.LoadPasswordFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if users.Len() != 2 || !users.Check("dev-1", []byte("new password")) || users.Check("dev-1", []byte("correct horse")) ||
		!users.Check("dev-2", []byte("battery staple")) {
		t.Fatal("the file does not hold the passwords set")
	}
	var out bytes.Buffer
	if code := run(t.Context(), []string{"passwd", "-f", file, "--delete", "-u", "dev-2"}, &out, &out); code != exitOK {
		t.Fatalf("delete: exit %d: %s", code, out.String())
	}
	if code := run(t.Context(), []string{"passwd", "-f", file, "--delete", "-u", "dev-2"}, &out, &out); code != exitUsage {
		t.Fatalf("deleting a missing user: exit %d", code)
	}
	if users, err := ingest.LoadPasswordFile(file); err != nil || users.Len() != 1 {
		t.Fatalf("after delete: %v users, %v", users.Len(), err)
	}
}
