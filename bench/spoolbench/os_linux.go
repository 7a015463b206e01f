package main

import (
	"bufio"
	"bytes"
	"fmt"
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

// fsKind names the filesystem holding dir, and the kernel release.
func fsKind(dir string) string {
	var st syscall.Statfs_t
	name := "unknown fs"
	if err := syscall.Statfs(dir, &st); err == nil {
		name = fsName(int64(st.Type)) // Type is int32 on some platforms
	}
	if rel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		name += ", Linux " + strings.TrimSpace(string(rel))
	}
	return name
}

func fsName(magic int64) string {
	switch magic {
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x01021994:
		return "tmpfs (memory: fsync is free)"
	case 0x794C7630:
		return "overlayfs"
	case 0x2FC12FC1:
		return "zfs"
	}
	return fmt.Sprintf("fs magic %#x", magic)
}
