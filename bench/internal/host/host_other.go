//go:build !linux

package host

// FSKind is unknown outside Linux.
func FSKind(string) string { return "unknown fs" }
