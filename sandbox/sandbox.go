package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Network selects the network a container sees.
type Network int

const (
	// NetNone gives the container a network namespace with only lo, down.
	NetNone Network = iota
	// NetLoopback gives the container its own lo, up; nothing else.
	NetLoopback
	// NetHost shares the host's network namespace (`hbuild run --network
	// host` only; never for builds).
	NetHost
)

// String returns the name used on the command line.
func (n Network) String() string {
	switch n {
	case NetNone:
		return "none"
	case NetLoopback:
		return "loopback"
	case NetHost:
		return "host"
	}
	return fmt.Sprintf("Network(%d)", int(n))
}

// ParseNetwork parses "none", "loopback" or "host".
func ParseNetwork(s string) (Network, error) {
	switch s {
	case "none", "":
		return NetNone, nil
	case "loopback":
		return NetLoopback, nil
	case "host":
		return NetHost, nil
	}
	return 0, fmt.Errorf("unknown network %q (want none, loopback or host)", s)
}

// Spec describes one command to run in a container.
type Spec struct {
	Lower    []string  // read-only lower dirs for "/", Lower[0] is the bottom layer
	Binds    []Bind    // extra bind mounts
	Env      []string  // complete environment (nothing inherited)
	Dir      string    // working directory inside ("" = "/")
	Args     []string  // the command
	Hostname string    // default "hbuild"
	Network  Network   // default NetNone
	Limits   Limits    // zero fields mean no limit
	Stdin    io.Reader // nil = /dev/null
	Stdout   io.Writer // nil = discarded (still kept for ExitError.Tail)
	Stderr   io.Writer // nil = discarded (still kept for ExitError.Tail)
	TTY      bool      // give the command a terminal (interactive shell)
	Umask    *uint32   // nil = 022
}

// Bind mounts a host file or directory into the container.
type Bind struct {
	Source, Dest string
	ReadOnly     bool
}

// Limits bound what a container may use. Zero means unlimited.
type Limits struct {
	Memory  int64   // bytes
	Pids    int64   // processes and threads
	CPUs    float64 // CPU bandwidth, in CPUs
	Timeout time.Duration
}

// Result is what a finished command used and how it ended.
type Result struct {
	ExitCode int            // exit status; 128+signal when killed by a signal
	Signal   syscall.Signal // the signal that killed it, or 0
	Duration time.Duration  // wall-clock time from start to exit
	MaxRSS   int64          // bytes, largest resident set of the command or a waited-for descendant
	UserTime time.Duration
	SysTime  time.Duration
}

// ExitError is returned by Run, with the Result, when the command did not
// exit with status 0.
type ExitError struct {
	Args     []string
	ExitCode int
	Signal   syscall.Signal
	TimedOut bool     // killed at Limits.Timeout
	OOM      bool     // the kernel's OOM killer killed a process of the container
	Canceled bool     // killed because the context was done
	Tail     []string // last lines of stderr and stdout, interleaved as written
	Err      error    // the context's error when Canceled
}

// TailLines is how many lines of output ExitError.Tail keeps.
const TailLines = 20

func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s: ", quoteArgs(e.Args))
	switch {
	case e.TimedOut:
		b.WriteString("timed out, killed")
	case e.Canceled:
		fmt.Fprintf(&b, "canceled (%v), killed", e.Err)
	case e.OOM:
		fmt.Fprintf(&b, "out of memory (exit status %d)", e.ExitCode)
	case e.Signal != 0:
		fmt.Fprintf(&b, "killed by signal %d (%s)", int(e.Signal), unix.SignalName(e.Signal))
	default:
		fmt.Fprintf(&b, "exit status %d", e.ExitCode)
	}
	if len(e.Tail) > 0 {
		b.WriteString("; last lines of output:")
		for _, l := range e.Tail {
			b.WriteString("\n    ")
			b.WriteString(l)
		}
	}
	return b.String()
}

// Unwrap returns the context's error for a canceled run.
func (e *ExitError) Unwrap() error { return e.Err }

// Warn receives the package's warnings (each one is given once per
// process). The CLI points it at its log; nil drops them.
var Warn func(string)

var warned sync.Map

func warnOnce(key, msg string) {
	if _, dup := warned.LoadOrStore(key, true); dup || Warn == nil {
		return
	}
	Warn(msg)
}

// quietLibcontainer silences libcontainer's logging (it logs through the
// global logrus logger): what matters reaches the caller as errors.
var quietLibcontainer sync.Once

// Rootless reports whether containers run rootless (euid is not 0).
func Rootless() bool { return os.Geteuid() != 0 }

// stateBase is where runs keep their state: libcontainer's state dirs under
// state/ and root staging dirs under roots/. Tests point it elsewhere.
var stateBase = defaultStateBase()

func defaultStateBase() string {
	if !Rootless() {
		return "/run/hbuild/sandbox"
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "hbuild", "sandbox")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("hbuild-%d", os.Geteuid()), "sandbox")
}

// newID returns a container id: the pid of this process (so a process can
// tell its own containers and cgroups apart) and random bits.
func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(b[:]))
}

// Run runs spec.Args in a new container and waits for it. It returns nil
// only when the command exits with status 0; a non-zero exit, a signal, a
// timeout, a limit or a cancellation returns the Result and an *ExitError;
// failures to set the container up return other errors (and a nil Result).
// Every process of the container is dead and every trace of it is removed
// when Run returns.
func Run(ctx context.Context, spec *Spec) (*Result, error) {
	spec = spec.cleaned()
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("run %s: %w", quoteArgs(spec.Args), err)
	}
	quietLibcontainer.Do(func() { logrus.SetOutput(io.Discard) })
	id := newID()
	stateRoot := filepath.Join(stateBase, "state")
	rootsDir := filepath.Join(stateBase, "roots")
	for _, d := range []string{stateRoot, rootsDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("create sandbox state directory: %w", err)
		}
	}

	sweepOnce.Do(func() { sweepStale(stateRoot, rootsDir) })

	root, err := planRoot(spec, filepath.Join(rootsDir, id))
	if err != nil {
		return nil, err
	}
	defer root.remove()

	lim := chooseLimits(&spec.Limits)
	config := buildConfig(spec, id, root, lim)
	ctr, err := libcontainer.Create(stateRoot, id, config)
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	res, err := run(ctx, spec, ctr, lim)
	if derr := ctr.Destroy(); derr != nil && err == nil {
		err = fmt.Errorf("remove container: %w", derr)
	}
	return res, err
}

// cleaned returns a copy of s with its container paths cleaned.
func (s *Spec) cleaned() *Spec {
	c := *s
	if c.Dir != "" && filepath.IsAbs(c.Dir) {
		c.Dir = filepath.Clean(c.Dir)
	}
	c.Binds = append([]Bind(nil), s.Binds...)
	for i, b := range c.Binds {
		if filepath.IsAbs(b.Dest) {
			c.Binds[i].Dest = filepath.Clean(b.Dest)
		}
	}
	return &c
}

func (s *Spec) validate() error {
	if len(s.Args) == 0 || s.Args[0] == "" {
		return errors.New("sandbox: no command given")
	}
	if len(s.Lower) == 0 {
		return errors.New("sandbox: no lower directory for the root given")
	}
	for _, l := range s.Lower {
		if !filepath.IsAbs(l) {
			return fmt.Errorf("sandbox: lower directory %s: not an absolute path", l)
		}
		fi, err := os.Stat(l)
		if err != nil {
			return fmt.Errorf("sandbox: lower directory: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("sandbox: lower directory %s: not a directory", l)
		}
	}
	seen := map[string]bool{}
	for _, b := range s.Binds {
		if !filepath.IsAbs(b.Source) {
			return fmt.Errorf("sandbox: bind source %s: not an absolute path", b.Source)
		}
		if _, err := os.Stat(b.Source); err != nil {
			return fmt.Errorf("sandbox: bind source: %w", err)
		}
		d := b.Dest
		if !filepath.IsAbs(d) || d == "/" {
			return fmt.Errorf("sandbox: bind destination %q: want an absolute path other than /", d)
		}
		for _, reserved := range []string{"/proc", "/dev"} {
			if d == reserved || strings.HasPrefix(d, reserved+"/") {
				return fmt.Errorf("sandbox: bind destination %s: %s is managed by the sandbox", d, reserved)
			}
		}
		if seen[d] {
			return fmt.Errorf("sandbox: bind destination %s given twice", d)
		}
		seen[d] = true
	}
	if s.Dir != "" && !filepath.IsAbs(s.Dir) {
		return fmt.Errorf("sandbox: working directory %q: want an absolute path", s.Dir)
	}
	if s.Network < NetNone || s.Network > NetHost {
		return fmt.Errorf("sandbox: unknown network %d", int(s.Network))
	}
	l := s.Limits
	if l.Memory < 0 || l.Pids < 0 || l.CPUs < 0 || l.Timeout < 0 {
		return errors.New("sandbox: negative limit")
	}
	return nil
}

// run starts the container's process, waits for it (or kills it) and
// collects the result. The caller destroys the container.
func run(ctx context.Context, spec *Spec, ctr *libcontainer.Container, lim *limitPlan) (*Result, error) {
	tail := newTailBuffer(TailLines)
	stdout, stderr := spec.Stdout, spec.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	args, rlimits := lim.limitArgs(spec.Lower, spec.Args)
	proc := &libcontainer.Process{
		Args:    args,
		Env:     spec.Env,
		Cwd:     spec.Dir,
		UID:     0,
		GID:     0,
		Init:    true,
		Rlimits: rlimits,
	}
	if proc.Cwd == "" {
		proc.Cwd = "/"
	}
	var console *consoleIO
	if spec.TTY {
		var err error
		console, err = newConsole(proc, spec, io.MultiWriter(stdout, tail.writer()))
		if err != nil {
			return nil, err
		}
		defer console.close()
	} else {
		stdin, closeStdin, err := stdinFile(spec.Stdin)
		if err != nil {
			return nil, err
		}
		defer closeStdin()
		proc.Stdin = stdin
		proc.Stdout = io.MultiWriter(stdout, tail.writer())
		if sameWriter(stdout, stderr) {
			// One pipe for both, as os/exec does for one writer: the
			// caller's writer is never written from two goroutines.
			proc.Stderr = proc.Stdout
		} else {
			proc.Stderr = io.MultiWriter(stderr, tail.writer())
		}
	}

	// The container's init dies with the thread that started it (see
	// MaybeInit): keep this goroutine on that thread until the end.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	start := time.Now()
	if err := ctr.Run(proc); err != nil {
		return nil, fmt.Errorf("start %s: %w%s", quoteArgs(spec.Args), err, userNSHint())
	}
	if console != nil {
		if err := console.start(); err != nil {
			_ = ctr.Signal(unix.SIGKILL)
			_, _ = proc.Wait()
			return nil, err
		}
	}

	type waited struct {
		ps  *os.ProcessState
		err error
	}
	done := make(chan waited, 1)
	go func() {
		ps, err := proc.Wait()
		done <- waited{ps, err}
	}()
	var timeout <-chan time.Time
	if spec.Limits.Timeout > 0 {
		t := time.NewTimer(spec.Limits.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var timedOut bool
	var ctxErr error
	var w waited
	select {
	case w = <-done:
	case <-timeout:
		timedOut = true
	case <-ctx.Done():
		ctxErr = ctx.Err()
	}
	if timedOut || ctxErr != nil {
		// Killing the init of a pid namespace kills every process in it.
		if err := ctr.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
			return nil, fmt.Errorf("kill container: %w", err)
		}
		w = <-done
	}
	elapsed := time.Since(start)
	if console != nil {
		console.wait()
	}
	if w.ps == nil {
		return nil, fmt.Errorf("wait for %s: %w", quoteArgs(spec.Args), w.err)
	}

	res := &Result{Duration: elapsed, ExitCode: w.ps.ExitCode()}
	if ws, ok := w.ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.Signal = ws.Signal()
		res.ExitCode = 128 + int(res.Signal)
	}
	if ru, ok := w.ps.SysUsage().(*syscall.Rusage); ok {
		res.MaxRSS = ru.Maxrss * 1024
		res.UserTime = time.Duration(ru.Utime.Nano())
		res.SysTime = time.Duration(ru.Stime.Nano())
	}
	if res.ExitCode == 0 && res.Signal == 0 && !timedOut && ctxErr == nil {
		return res, nil
	}
	ee := &ExitError{
		Args:     spec.Args,
		ExitCode: res.ExitCode,
		Signal:   res.Signal,
		TimedOut: timedOut,
		Canceled: ctxErr != nil,
		Err:      ctxErr,
		Tail:     tail.lines(),
	}
	if spec.Limits.Memory > 0 && lim.cgroups {
		ee.OOM = oomKilled(ctr)
	}
	return res, ee
}

// userNSHint explains a failed rootless start when the host forbids
// unprivileged user namespaces.
func userNSHint() string {
	if !Rootless() {
		return ""
	}
	for file, bad := range map[string]string{
		"/proc/sys/user/max_user_namespaces":                     "0",
		"/proc/sys/kernel/unprivileged_userns_clone":             "0",
		"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1",
	} {
		if b, err := os.ReadFile(file); err == nil && strings.TrimSpace(string(b)) == bad {
			return fmt.Sprintf(" (this host forbids unprivileged user namespaces: %s is %s; run as root or change that setting)", file, bad)
		}
	}
	return ""
}

// sameWriter reports whether a and b are the same writer.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil { // not comparable
			same = false
		}
	}()
	return a == b
}

// stdinFile returns what to give the container as stdin. A reader that is
// not a file is copied through a pipe by a goroutine of ours, so that
// waiting for the container never waits for that reader; the copy is
// abandoned when Run returns.
func stdinFile(r io.Reader) (io.Reader, func(), error) {
	if r == nil {
		return nil, func() {}, nil
	}
	if f, ok := r.(*os.File); ok {
		return f, func() {}, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("create stdin pipe: %w", err)
	}
	go func() {
		_, _ = io.Copy(pw, r)
		_ = pw.Close()
	}()
	return pr, func() {
		_ = pr.Close()
		_ = pw.Close()
	}, nil
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`|&;<>()*?[]#~") {
			q[i] = fmt.Sprintf("%q", a)
		} else {
			q[i] = a
		}
	}
	s := strings.Join(q, " ")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}
