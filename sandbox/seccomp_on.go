//go:build seccomp

package sandbox

import "github.com/opencontainers/runc/libcontainer/configs"

// SeccompEnabled reports whether containers get a seccomp filter: only in
// builds with the seccomp tag.
const SeccompEnabled = true

// deniedSyscalls fail with EPERM in the container: system calls that act on
// the kernel or the host, which a build never needs (most also need
// capabilities the container does not have; the filter is a second wall).
var deniedSyscalls = []string{
	"acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module",
	"delete_module", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick",
	"get_kernel_syms", "init_module", "ioperm", "iopl", "kexec_file_load",
	"kexec_load", "keyctl", "lookup_dcookie", "mount", "mount_setattr", "move_mount",
	"name_to_handle_at", "nfsservctl", "open_by_handle_at", "open_tree",
	"perf_event_open", "pivot_root", "query_module", "quotactl", "quotactl_fd", "reboot", "request_key",
	"setns", "settimeofday", "adjtimex", "stime", "swapoff", "swapon", "syslog",
	"umount", "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vhangup",
	"vm86", "vm86old",
}

func seccompConfig() *configs.Seccomp {
	eperm := uint(1) // EPERM
	s := &configs.Seccomp{
		DefaultAction: configs.Allow,
		Architectures: []string{"amd64", "x86", "x32", "arm64", "arm"},
	}
	for _, name := range deniedSyscalls {
		s.Syscalls = append(s.Syscalls, &configs.Syscall{Name: name, Action: configs.Errno, ErrnoRet: &eperm})
	}
	return s
}
