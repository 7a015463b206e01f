// Package host describes the machine a bench program runs on, for the
// settings lines of its output.
//
// # Caveats
//
// Outside Linux the filesystem is "unknown fs".
package host
