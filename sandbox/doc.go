// Package sandbox runs one command in a throw-away container: the only place
// in hbuild that imports libcontainer (runc's Go library).
//
// A [Spec] names the read-only layers of the root file system, the extra
// bind mounts, the environment, the command and its limits; [Run] starts the
// container, streams the command's output, waits for it, and removes every
// trace of it (processes, mounts, cgroups, state directory) whatever the
// outcome: success, failure, timeout, cancellation or a crash.
//
// # Isolation
//
// Each run gets new mount, pid, ipc, uts, net and cgroup namespaces (a user
// namespace too when rootless) and a fixed hostname. The root is read-only:
// a single lower directory is used in place when every mount point already
// exists in it; otherwise the root is a private staging directory that holds
// only the mount points, with the lower directories bind-mounted (or, where
// several layers have the same directory, overlay-mounted) into it,
// read-only. Nothing is ever mounted in the caller's mount namespace and no
// layer is ever written. /proc, a tmpfs /tmp, a tmpfs /dev holding null,
// zero, full, random, urandom, tty, a private devpts (ptmx) and /dev/shm are
// provided; the kernel paths runc's default spec masks or makes read-only
// are masked or read-only here too.
//
// The network namespace has only lo, down ([NetNone], the default) or up
// ([NetLoopback]); [NetHost] shares the host's network (for `hbuild run
// --network host` only). The process runs as uid 0 with a reduced bounding
// set of capabilities (chown, dac_override, fowner, fsetid, kill, setgid,
// setuid, setfcap, net_bind_service, sys_chroot, audit_write) and
// no_new_privs.
//
// Seccomp: when hbuild is built with the `seccomp` build tag (runc's tag;
// it also turns on libcontainer's libseccomp support and needs
// libseccomp-dev), a default filter denies with EPERM the system calls a
// build has no use for (kernel modules, kexec, reboot, swap, clock setting,
// bpf, perf, keyrings, the mount API, new namespaces, userfaultfd, ...).
// Without the tag, the default build, there is no seccomp filter: isolation
// rests on namespaces, capabilities, no_new_privs and the read-only root.
// [SeccompEnabled] reports which.
//
// # Root and rootless
//
// As root the container runs as real root with the capabilities above and
// limits are enforced with cgroups (v1 or v2, whichever the host has). As an
// ordinary user ([Rootless]) a user namespace maps the user to uid 0. The
// map has that single id: files of other owners in the layers show as
// nobody, and chown to another id fails (GNU tar, which restores owners
// when run as root, needs --no-same-owner or TAR_OPTIONS=--no-same-owner).
// A subordinate id range is not used, because files a build gave to such ids
// in its read-write directories could not be removed by the user afterwards.
// A rootless run uses cgroups only when the host delegates a cgroup v2
// subtree to the user; otherwise [Warn] is told once and the limits fall
// back to rlimits: Memory becomes RLIMIT_AS per process, Pids becomes
// RLIMIT_NPROC (counted in the container's own user namespace), and CPUs is
// not enforced. The address-space limit is set by the root's /bin/sh
// (`ulimit -v`) right before it execs the command: set on runc's init, a Go
// program that may still need a thread stack before its exec, it could kill
// the init. Only a root without /bin/sh gets it as the container's rlimit.
//
// # The init hook
//
// libcontainer starts containers by re-executing the current binary as
// `<binary> init`. Importing this package installs libcontainer's nsexec
// constructor and, in an init function, runs the container init when the
// process is such a re-execution ([MaybeInit]): any binary that links this
// package, test binaries included, can run containers. Callers may also call
// MaybeInit first thing in main to make the dependency explicit. The
// package needs cgo: nsexec is C.
//
// # State and cleanup
//
// A run keeps libcontainer's state directory and its staging root under
// /run/hbuild/sandbox (root) or $XDG_RUNTIME_DIR/hbuild/sandbox, else
// $TMPDIR/hbuild-<uid>/sandbox (rootless), and removes them, with its
// cgroup, before Run returns. A container's id begins with the pid of the
// hbuild process that made it; if that process is killed, its containers'
// processes die with it (their init has a parent-death signal on the thread
// that started them, which Run keeps locked), and the first Run of a later
// hbuild process removes the state, staging roots and cgroups left behind.
//
// The package prints nothing; it reports through [Warn] and its return
// values. libcontainer logs through the global logrus logger: Run sends
// that logger's output to io.Discard.
package sandbox
