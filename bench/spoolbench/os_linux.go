package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// writeBytes reads write_bytes from /proc/self/io: the bytes of page cache
// this process dirtied (counted when a page turns dirty, in whole pages),
// which the kernel then writes to storage. Journal and device-level
// amplification below the page cache are not in it.
func writeBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "write_bytes:")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// datasync flushes f's data as bbolt does on Linux: fdatasync(2).
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// datasyncName names the call datasync makes.
const datasyncName = "fdatasync"
