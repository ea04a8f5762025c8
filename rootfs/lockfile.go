package rootfs

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// flock takes an exclusive lock on path (created if missing), waiting for
// other processes; the lock goes with the process if it dies.
func flock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fsTopDirFL is FS_TOPDIR_FL of <linux/fs.h> (chattr +T).
const fsTopDirFL = 0x00020000

// markTopDir flags dir (the directory of all bases) as the top of unrelated
// hierarchies, as /home is. ext4 then places each new base in a block group
// of its own instead of beside the bases deleted last: on ext4 without a
// journal, allocating inodes among ones deleted in the last minutes makes
// the allocator check each of those, which made unpacking a base right
// after removing one cost four times the system time. Filesystems
// without the flag are left alone.
func markTopDir(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil || flags&fsTopDirFL != 0 {
		return
	}
	_ = unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsTopDirFL))
}
