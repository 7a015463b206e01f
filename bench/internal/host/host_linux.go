package host

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// FSKind names the filesystem holding dir, and the kernel release.
func FSKind(dir string) string {
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
