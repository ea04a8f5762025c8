package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hbuild/hbuild/sandbox"
)

func init() {
	// hbuild re-executes itself as the init of its containers: that must
	// happen before anything else (the sandbox package's own init does it
	// too; this keeps the dependency explicit).
	sandbox.MaybeInit()
	addCommand(newSandboxCmd)
}

// sandboxRunOptions are the flags of `hbuild sandbox run`.
type sandboxRunOptions struct {
	Rootfs   []string
	Binds    []string
	Env      []string
	Workdir  string
	Hostname string
	Network  string
	Memory   string
	Pids     int64
	CPUs     float64
	Timeout  time.Duration
}

func newSandboxCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run commands in hbuild's build sandbox",
		Long: `The sandbox is the container every build step runs in: a read-only root,
no network, no host file, a fresh /tmp, and limits. These commands expose it
for debugging a base file system or a build step.

Example:
  hbuild sandbox run --rootfs /path/to/rootfs -- /bin/sh`,
	}
	cmd.AddCommand(newSandboxRunCmd())
	return cmd
}

func newSandboxRunCmd() *cobra.Command {
	var o sandboxRunOptions
	cmd := &cobra.Command{
		Use:   "run --rootfs DIR [flags] -- CMD [ARG...]",
		Short: "Run a command in the sandbox",
		Long: `Run a command in hbuild's build sandbox, as a build step would run: the
root file system is DIR (read-only; repeat --rootfs to stack layers, bottom
first), /tmp is an empty tmpfs, there is no network unless asked, and only
the paths given with --bind are visible from the host.

The command's exit status becomes hbuild's (128+N when killed by signal N).
When standard input is a terminal the command gets one (an interactive
shell). Runs rootless when hbuild is not run as root.

Example:
  hbuild sandbox run --rootfs ./base --bind "$PWD/src:/build" -w /build \
      --memory 2G --timeout 30m -- sh -c './configure && make'`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSandbox(cmd, &o, args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Rootfs, "rootfs", nil, "root file system directory (repeatable: layers, bottom first)")
	f.StringArrayVar(&o.Binds, "bind", nil, "bind SRC:DST[:ro] from the host (repeatable)")
	f.StringArrayVarP(&o.Env, "env", "e", nil, "set KEY=VALUE in the environment (repeatable)")
	f.StringVarP(&o.Workdir, "workdir", "w", "/", "working directory inside")
	f.StringVar(&o.Hostname, "hostname", "hbuild", "host name inside")
	f.StringVar(&o.Network, "network", "none", "network: none (lo down), loopback (lo up) or host")
	f.StringVar(&o.Memory, "memory", "", "memory limit, e.g. 512M or 2G (default: none)")
	f.Int64Var(&o.Pids, "pids", 0, "limit on processes and threads (default: none)")
	f.Float64Var(&o.CPUs, "cpus", 0, "CPU bandwidth limit, in CPUs (default: none)")
	f.DurationVar(&o.Timeout, "timeout", 0, "kill the command after this long, e.g. 30m (default: none)")
	return cmd
}

func runSandbox(cmd *cobra.Command, o *sandboxRunOptions, args []string) error {
	if len(o.Rootfs) == 0 {
		return usagef("sandbox run: --rootfs DIR is required")
	}
	spec := &sandbox.Spec{
		Args:     args,
		Dir:      o.Workdir,
		Hostname: o.Hostname,
		Limits:   sandbox.Limits{Pids: o.Pids, CPUs: o.CPUs, Timeout: o.Timeout},
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
	}
	for _, r := range o.Rootfs {
		abs, err := filepath.Abs(r)
		if err != nil {
			return err
		}
		spec.Lower = append(spec.Lower, abs)
	}
	for _, b := range o.Binds {
		bind, err := parseBind(b)
		if err != nil {
			return usagef("sandbox run: --bind %s: %v", b, err)
		}
		spec.Binds = append(spec.Binds, bind)
	}
	net, err := sandbox.ParseNetwork(o.Network)
	if err != nil {
		return usagef("sandbox run: --network: %v", err)
	}
	spec.Network = net
	if o.Memory != "" {
		if spec.Limits.Memory, err = parseSize(o.Memory); err != nil {
			return usagef("sandbox run: --memory: %v", err)
		}
	}
	interactive := term.IsTerminal(int(os.Stdin.Fd()))
	spec.TTY = interactive
	spec.Env = sandboxEnv(o.Env, interactive)
	sandbox.Warn = func(msg string) { fmt.Fprintln(os.Stderr, "hbuild: warning:", msg) }

	restore := func() {}
	if interactive {
		state, err := term.MakeRaw(int(os.Stdin.Fd()))
		if err != nil {
			return fmt.Errorf("set the terminal to raw mode: %w", err)
		}
		restore = func() { _ = term.Restore(int(os.Stdin.Fd()), state) }
	}
	_, err = sandbox.Run(cmd.Context(), spec)
	restore() // before anything else is printed, and before os.Exit
	var ee *sandbox.ExitError
	if errors.As(err, &ee) {
		if ee.TimedOut || ee.Canceled || ee.OOM {
			// The output was streamed: say why it ended, without the tail.
			short := *ee
			short.Tail = nil
			fmt.Fprintf(os.Stderr, "hbuild: %v\n", &short)
		}
		os.Exit(ee.ExitCode)
	}
	return err
}

// sandboxEnv is the environment of an interactive sandbox: a usual PATH,
// HOME, LANG and TERM, then the --env settings.
func sandboxEnv(extra []string, interactive bool) []string {
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"LANG=C.UTF-8",
	}
	if t := os.Getenv("TERM"); interactive && t != "" {
		env = append(env, "TERM="+t)
	}
	for _, e := range extra {
		key, _, _ := strings.Cut(e, "=")
		kept := env[:0]
		for _, old := range env {
			if k, _, _ := strings.Cut(old, "="); k != key {
				kept = append(kept, old)
			}
		}
		env = append(kept, e)
	}
	return env
}

// parseBind parses SRC:DST[:ro|:rw].
func parseBind(s string) (sandbox.Bind, error) {
	parts := strings.Split(s, ":")
	var b sandbox.Bind
	switch {
	case len(parts) == 2:
	case len(parts) == 3 && (parts[2] == "ro" || parts[2] == "rw"):
		b.ReadOnly = parts[2] == "ro"
	default:
		return b, errors.New("want SRC:DST or SRC:DST:ro")
	}
	if parts[0] == "" || parts[1] == "" {
		return b, errors.New("want SRC:DST or SRC:DST:ro")
	}
	src, err := filepath.Abs(parts[0])
	if err != nil {
		return b, err
	}
	b.Source, b.Dest = src, parts[1]
	return b, nil
}

// parseSize parses a byte count with an optional K, M, G or T suffix
// (powers of 1024).
func parseSize(s string) (int64, error) {
	num := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B")
	mult := int64(1)
	if n := len(num); n > 0 {
		switch num[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			num = num[:n-1]
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 512M, 2G)", s)
	}
	return int64(v * float64(mult)), nil
}
