package sandbox

import (
	"os"

	"github.com/opencontainers/runc/libcontainer"
	// The nsexec constructor sets up the namespaces of a container init
	// before the Go runtime starts.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
	"golang.org/x/sys/unix"
)

func init() { MaybeInit() }

// MaybeInit runs the container init and never returns when this process is
// libcontainer's re-execution of the binary (`<binary> init` with the
// _LIBCONTAINER_INITPIPE descriptor); otherwise it returns at once. The
// package calls it from an init function; main may call it again first
// thing to make that explicit.
func MaybeInit() {
	if len(os.Args) < 2 || os.Args[1] != "init" || os.Getenv("_LIBCONTAINER_INITPIPE") == "" {
		return
	}
	// Die with the thread of hbuild that started the container (Run keeps
	// that thread for the container's life): a killed hbuild leaves no
	// container behind. libcontainer keeps the setting across its set-up
	// and exec.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	libcontainer.Init()
	os.Exit(255) // Init does not return
}
