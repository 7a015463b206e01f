// Package buildinfo says which build of Tributary is running. The version and
// commit are set at link time by the Makefile:
//
//	go build -ldflags "-X github.com/tributary-io/tributary/internal/buildinfo.Version=v0.1.0 \
//	  -X github.com/tributary-io/tributary/internal/buildinfo.Commit=abc1234"
//
// A plain `go build` or `go run` leaves Version at "dev" and takes Commit from
// the VCS stamp that the go command embeds, when there is one.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set with -ldflags -X at link time.
var (
	Version = "dev"
	Commit  = ""
)

// Info describes the running binary.
type Info struct {
	Version   string
	Commit    string
	GoVersion string
	OS        string
	Arch      string
}

// Get returns the running binary's build information. Commit is "unknown"
// when neither the linker nor the go command recorded one.
func Get() Info {
	return Info{
		Version:   Version,
		Commit:    commit(),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
	}
}

// String is the one-line form that `tributary version` prints.
func (i Info) String() string {
	return fmt.Sprintf("tributary %s (commit %s, %s, %s/%s)", i.Version, i.Commit, i.GoVersion, i.OS, i.Arch)
}

func commit() string {
	if Commit != "" {
		return Commit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return rev + dirty
}
