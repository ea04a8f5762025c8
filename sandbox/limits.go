package sandbox

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
)

// cpuPeriod is the CFS period the CPU quota is expressed in (100 ms).
const cpuPeriod = 100000

// limitPlan is how a run's limits are enforced.
type limitPlan struct {
	cgroups   bool // resources go to the container's cgroup
	resources *cgroups.Resources
	rlimits   []configs.Rlimit
	// asKiB, when set, is an address-space limit the command's shell applies
	// (ulimit -v) right before it execs the command. Given to libcontainer
	// instead, it would land on runc's init, still a Go program, which dies
	// when it needs a thread stack after the limit: so it is applied by a
	// shell when the root has one (see shellArgs).
	asKiB uint64
}

// chooseLimits enforces limits with cgroups when this process may (root, or
// a delegated cgroup v2 subtree), else with rlimits, saying so once.
func chooseLimits(l *Limits) *limitPlan {
	p := &limitPlan{resources: &cgroups.Resources{}}
	if !Rootless() || delegatedCgroup() {
		p.cgroups = true
		r := p.resources
		r.Memory = l.Memory
		if l.Memory > 0 && swapAccounting() {
			r.MemorySwap = l.Memory // no swap beyond the limit
		}
		if l.Pids > 0 {
			pids := l.Pids
			r.PidsLimit = &pids
		}
		if l.CPUs > 0 {
			r.CpuPeriod = cpuPeriod
			r.CpuQuota = int64(l.CPUs * cpuPeriod)
			if r.CpuQuota < 1000 {
				r.CpuQuota = 1000
			}
		}
		// No device rules: the container cannot make device nodes (no
		// CAP_MKNOD), its /dev holds only the nodes it needs, and every other
		// mount is nodev.
		return p
	}
	if l.Memory > 0 || l.Pids > 0 || l.CPUs > 0 {
		warnOnce("rlimits", "sandbox: rootless and no delegated cgroup: limits fall back to rlimits "+
			"(memory as address space per process, pids per user namespace; CPU not limited)")
	}
	if l.Memory > 0 {
		p.asKiB = uint64(l.Memory+1023) / 1024
	}
	if l.Pids > 0 {
		p.rlimits = append(p.rlimits, configs.Rlimit{Type: unix.RLIMIT_NPROC, Hard: uint64(l.Pids), Soft: uint64(l.Pids)})
	}
	return p
}

// delegatedCgroup reports whether an unprivileged process may make child
// cgroups with the memory and pids controllers: cgroup v2 with the parent of
// its own cgroup (where libcontainer puts containers) writable by it.
func delegatedCgroup() bool {
	if !cgroups.IsCgroup2UnifiedMode() {
		return false
	}
	own, err := ownCgroupV2()
	if err != nil {
		return false
	}
	parent := filepath.Join("/sys/fs/cgroup", filepath.Dir(own))
	if unix.Access(parent, unix.W_OK) != nil || unix.Access(filepath.Join(parent, "cgroup.procs"), unix.W_OK) != nil {
		return false
	}
	ctl, err := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
	if err != nil {
		return false
	}
	have := strings.Fields(string(ctl))
	return contains(have, "memory") && contains(have, "pids")
}

// swapAccounting reports whether the memory controller can limit swap.
func swapAccounting() bool {
	if cgroups.IsCgroup2UnifiedMode() {
		own, err := ownCgroupV2()
		return err == nil && cgroups.PathExists(filepath.Join("/sys/fs/cgroup", own, "memory.swap.max"))
	}
	p, err := cgroups.GetOwnCgroupPath("memory")
	return err == nil && cgroups.PathExists(filepath.Join(p, "memory.memsw.limit_in_bytes"))
}

func ownCgroupV2() (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if p, ok := strings.CutPrefix(s.Text(), "0::"); ok {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// oomKilled reports whether the kernel's OOM killer killed a process of the
// container's cgroup.
func oomKilled(ctr *libcontainer.Container) bool {
	st, err := ctr.State()
	if err != nil {
		return false
	}
	cfg := ctr.Config()
	m, err := manager.NewWithPaths(cfg.Cgroups, st.CgroupPaths)
	if err != nil {
		return false
	}
	n, err := m.OOMKillCount()
	return err == nil && n > 0
}

// limitArgs returns the command to start: args itself, or, when an
// address-space limit is to be applied and the root has /bin/sh, args run
// through a shell that sets the limit and then execs it (so the limit holds
// for the command and everything it starts, and only for them). Without a
// shell the limit goes to libcontainer as an rlimit.
func (p *limitPlan) limitArgs(lower []string, args []string) ([]string, []configs.Rlimit) {
	if p.asKiB == 0 {
		return args, p.rlimits
	}
	for _, l := range lower {
		if st, err := os.Stat(filepath.Join(l, "bin", "sh")); err == nil && st.Mode().IsRegular() {
			kib := strconv.FormatUint(p.asKiB, 10)
			return append([]string{"/bin/sh", "-c", `ulimit -v "$0" && exec "$@"`, kib}, args...), p.rlimits
		}
	}
	bytes := p.asKiB * 1024
	return args, append(p.rlimits, configs.Rlimit{Type: unix.RLIMIT_AS, Hard: bytes, Soft: bytes})
}
