// Package host describes the machine a bench program runs on, for the
// settings lines of its output, and gives a run a temporary directory on
// the filesystem it measures (InTempDir).
//
// # Caveats
//
// Outside Linux the filesystem is "unknown fs".
package host
