package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestGetPrefersLinkerCommit(t *testing.T) {
	old := Commit
	t.Cleanup(func() { Commit = old })

	Commit = "abc1234"
	got := Get()
	if got.Commit != "abc1234" {
		t.Fatalf("Commit = %q, want the value set at link time", got.Commit)
	}
	if got.GoVersion != runtime.Version() || got.OS != runtime.GOOS || got.Arch != runtime.GOARCH {
		t.Fatalf("runtime fields wrong: %+v", got)
	}
	s := got.String()
	for _, want := range []string{"tributary " + Version, "commit abc1234", runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q, missing %q", s, want)
		}
	}
}

func TestGetWithoutLinkerCommit(t *testing.T) {
	old := Commit
	t.Cleanup(func() { Commit = old })

	Commit = ""
	if got := Get().Commit; got == "" {
		t.Fatal("Commit is empty; want a VCS revision or \"unknown\"")
	}
}
