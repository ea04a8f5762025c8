//go:build !seccomp

package sandbox

import "github.com/opencontainers/runc/libcontainer/configs"

// SeccompEnabled reports whether containers get a seccomp filter: only in
// builds with the seccomp tag.
const SeccompEnabled = false

func seccompConfig() *configs.Seccomp { return nil }
