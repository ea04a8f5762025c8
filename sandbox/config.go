package sandbox

import (
	"os"
	"sort"
	"strings"

	"github.com/opencontainers/cgroups"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
)

// capabilities is the bounding (and effective, permitted) set: what builds
// need to install files as root, nothing that reaches the kernel or the
// host.
var capabilities = []string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETFCAP",
	"CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT",
	"CAP_AUDIT_WRITE",
}

// maskedPaths and readonlyPaths are runc's default spec's (those under
// /sys left out: the sandbox mounts no sysfs).
var (
	maskedPaths = []string{
		"/proc/acpi",
		"/proc/asound",
		"/proc/interrupts",
		"/proc/kcore",
		"/proc/keys",
		"/proc/latency_stats",
		"/proc/timer_list",
		"/proc/timer_stats",
		"/proc/sched_debug",
		"/proc/scsi",
	}
	readonlyPaths = []string{
		"/proc/bus",
		"/proc/fs",
		"/proc/irq",
		"/proc/sys",
		"/proc/sysrq-trigger",
	}
)

func charDevice(path string, major, minor int64) *devconfig.Device {
	return &devconfig.Device{
		Path:     path,
		FileMode: 0o666,
		Rule: devconfig.Rule{
			Type:        devconfig.CharDevice,
			Major:       major,
			Minor:       minor,
			Permissions: "rwm",
			Allow:       true,
		},
	}
}

// devices are the nodes of the container's /dev.
var devices = []*devconfig.Device{
	charDevice("/dev/null", 1, 3),
	charDevice("/dev/zero", 1, 5),
	charDevice("/dev/full", 1, 7),
	charDevice("/dev/random", 1, 8),
	charDevice("/dev/urandom", 1, 9),
	charDevice("/dev/tty", 5, 0),
}

// buildConfig turns a spec into libcontainer's configuration.
func buildConfig(spec *Spec, id string, root *rootPlan, lim *limitPlan) *configs.Config {
	rootless := Rootless()
	hostname := spec.Hostname
	if hostname == "" {
		hostname = "hbuild"
	}
	umask := uint32(0o022)
	if spec.Umask != nil {
		umask = *spec.Umask
	}
	ns := configs.Namespaces{
		{Type: configs.NEWNS},
		{Type: configs.NEWPID},
		{Type: configs.NEWIPC},
		{Type: configs.NEWUTS},
		{Type: configs.NEWCGROUP},
	}
	if spec.Network != NetHost {
		ns = append(ns, configs.Namespace{Type: configs.NEWNET})
	}
	if rootless {
		ns = append(ns, configs.Namespace{Type: configs.NEWUSER})
	}
	caps := &configs.Capabilities{
		Bounding:  capabilities,
		Effective: capabilities,
		Permitted: capabilities,
	}

	const noexec = unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV
	ptsData := "newinstance,ptmxmode=0666,mode=0620"
	if !rootless {
		ptsData += ",gid=5" // tty; a rootless user namespace maps no such group
	}
	mounts := append([]*configs.Mount(nil), root.mounts...)
	mounts = append(mounts,
		&configs.Mount{Source: "proc", Destination: "/proc", Device: "proc", Flags: noexec},
		&configs.Mount{Source: "tmpfs", Destination: "/dev", Device: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"},
		&configs.Mount{Source: "devpts", Destination: "/dev/pts", Device: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: ptsData},
		&configs.Mount{Source: "shm", Destination: "/dev/shm", Device: "tmpfs", Flags: noexec, Data: "mode=1777,size=65536k"},
		&configs.Mount{Source: "tmpfs", Destination: "/tmp", Device: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777"},
	)
	// Parents before children, in the order given otherwise.
	binds := append([]Bind(nil), spec.Binds...)
	sort.SliceStable(binds, func(i, j int) bool {
		return strings.Count(binds[i].Dest, "/") < strings.Count(binds[j].Dest, "/")
	})
	for _, b := range binds {
		flags := unix.MS_BIND | unix.MS_REC | unix.MS_NOSUID | unix.MS_NODEV
		m := &configs.Mount{Source: b.Source, Destination: b.Dest, Device: "bind", Flags: flags}
		if b.ReadOnly {
			m.Flags |= unix.MS_RDONLY
			m.RecAttr = &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		}
		mounts = append(mounts, m)
	}

	c := &configs.Config{
		Rootfs:          root.rootfs,
		Readonlyfs:      true,
		RootPropagation: unix.MS_PRIVATE | unix.MS_REC,
		Umask:           &umask,
		Mounts:          mounts,
		Devices:         devices,
		Hostname:        hostname,
		Namespaces:      ns,
		Capabilities:    caps,
		NoNewPrivileges: true,
		NoNewKeyring:    true,
		MaskPaths:       maskedPaths,
		ReadonlyPaths:   readonlyPaths,
		Seccomp:         seccompConfig(),
		Cgroups: &cgroups.Cgroup{
			Name:      "hbuild-" + id,
			Rootless:  rootless,
			Resources: lim.resources,
		},
		RootlessEUID:    rootless,
		RootlessCgroups: rootless,
	}
	if spec.Network == NetLoopback {
		c.Networks = []*configs.Network{{Type: "loopback", Address: "127.0.0.1/0", Gateway: "localhost"}}
	}
	if rootless {
		c.UIDMappings = []configs.IDMap{{ContainerID: 0, HostID: int64(os.Geteuid()), Size: 1}}
		c.GIDMappings = []configs.IDMap{{ContainerID: 0, HostID: int64(os.Getegid()), Size: 1}}
	}
	return c
}
