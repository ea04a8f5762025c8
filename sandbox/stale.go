package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

var sweepOnce sync.Once

// sweepStale removes what containers of dead hbuild processes left behind:
// a killed hbuild takes its containers' processes with it (see MaybeInit),
// but not their state directories, staging roots and cgroups. A container's
// id starts with the pid of the process that made it; an entry whose
// process is gone is removed.
func sweepStale(stateRoot, rootsDir string) {
	alive := func(id string) bool {
		pidStr, _, ok := strings.Cut(id, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 {
			return true // not ours: leave it
		}
		if pid == os.Getpid() {
			return true
		}
		err = unix.Kill(pid, 0)
		return err == nil || errors.Is(err, unix.EPERM)
	}
	if ents, err := os.ReadDir(stateRoot); err == nil {
		for _, e := range ents {
			if alive(e.Name()) {
				continue
			}
			if ctr, err := libcontainer.Load(stateRoot, e.Name()); err == nil {
				_ = ctr.Signal(unix.SIGKILL)
				if ctr.Destroy() == nil {
					continue
				}
			}
			_ = os.RemoveAll(filepath.Join(stateRoot, e.Name()))
		}
	}
	if ents, err := os.ReadDir(rootsDir); err == nil {
		for _, e := range ents {
			if !alive(e.Name()) {
				_ = os.RemoveAll(filepath.Join(rootsDir, e.Name()))
			}
		}
	}
	// Cgroups made before the state was saved have no state to find
	// them by: look where this process makes them.
	for _, dir := range cgroupParents() {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if id, ok := strings.CutPrefix(e.Name(), "hbuild-"); ok && e.IsDir() && !alive(id) {
				_ = os.Remove(filepath.Join(dir, e.Name())) // fails, harmlessly, while processes remain
			}
		}
	}
}

// cgroupParents returns the directories this process's containers get
// their cgroups in.
func cgroupParents() []string {
	if cgroups.IsCgroup2UnifiedMode() {
		own, err := ownCgroupV2()
		if err != nil {
			return nil
		}
		return []string{filepath.Join("/sys/fs/cgroup", filepath.Dir(own))}
	}
	subsystems, err := cgroups.ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	var dirs []string
	for sub, path := range subsystems {
		if sub == "" { // hybrid: the v2 hierarchy beside the v1 ones
			dirs = append(dirs, filepath.Join("/sys/fs/cgroup/unified", path))
			continue
		}
		if p, err := cgroups.GetOwnCgroupPath(strings.Split(sub, ",")[0]); err == nil {
			dirs = append(dirs, p)
		}
	}
	return dirs
}
