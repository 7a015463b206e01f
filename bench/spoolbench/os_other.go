//go:build !linux

package main

import "os"

// writeBytes is unknown outside Linux.
func writeBytes() (int64, bool) { return 0, false }

// datasync flushes f with fsync, the portable call.
func datasync(f *os.File) error { return f.Sync() }

// datasyncName names the call datasync makes.
const datasyncName = "fsync"
