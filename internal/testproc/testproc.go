// Package testproc starts the running test binary again as a child
// process, for tests that kill a node with SIGKILL: the child serves, the
// parent kills it and checks what survived.
package testproc

import (
	"io"
	"os"
	"os/exec"
	"testing"
)

// Start starts this test binary again, running no test, with env added to
// this process's environment (the child recognises its mode by it). Its
// stderr is this process's; its stdout is returned for the lines it
// prints. Under `go test -exec qemu-…-static` the test binary cannot start
// itself: TRIBUTARY_TEST_EXEC names the same wrapper for the child.
func Start(t testing.TB, env ...string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	argv := []string{os.Args[0], "-test.run=^$"}
	if wrapper := os.Getenv("TRIBUTARY_TEST_EXEC"); wrapper != "" {
		argv = append([]string{wrapper}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout
}
