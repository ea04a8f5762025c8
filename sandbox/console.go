package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// consoleIO gives the command a pseudo-terminal: the container's init makes
// it and sends its master end over a socket; the caller's streams are
// copied to and from it.
type consoleIO struct {
	parent, child *os.File
	master        *os.File
	in            io.Reader
	out           io.Writer
	winch         chan os.Signal
	term          *os.File // the caller's terminal, whose size the console follows
	outDone       chan struct{}
	closeOnce     sync.Once
}

func newConsole(proc *libcontainer.Process, spec *Spec, out io.Writer) (*consoleIO, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create console socket: %w", err)
	}
	c := &consoleIO{
		parent:  os.NewFile(uintptr(fds[0]), "console-parent"),
		child:   os.NewFile(uintptr(fds[1]), "console-child"),
		in:      spec.Stdin,
		out:     out,
		outDone: make(chan struct{}),
	}
	for _, s := range []any{spec.Stdin, spec.Stdout} {
		if f, ok := s.(*os.File); ok && isTerminal(f) {
			c.term = f
			break
		}
	}
	if c.term != nil {
		if ws, err := unix.IoctlGetWinsize(int(c.term.Fd()), unix.TIOCGWINSZ); err == nil {
			proc.ConsoleWidth, proc.ConsoleHeight = ws.Col, ws.Row
		}
	}
	proc.ConsoleSocket = c.child
	return c, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// start receives the console from the started container and begins
// copying.
func (c *consoleIO) start() error {
	_ = c.child.Close()
	master, err := recvFile(c.parent)
	if err != nil {
		return fmt.Errorf("receive the container's console: %w", err)
	}
	c.master = master
	go func() {
		defer close(c.outDone)
		_, _ = io.Copy(c.out, master) // ends with EIO when the last process closes the terminal
	}()
	if c.in != nil {
		go func() { _, _ = io.Copy(master, c.in) }()
	}
	if c.term != nil {
		c.winch = make(chan os.Signal, 1)
		signal.Notify(c.winch, unix.SIGWINCH)
		go func() {
			for range c.winch {
				if ws, err := unix.IoctlGetWinsize(int(c.term.Fd()), unix.TIOCGWINSZ); err == nil {
					_ = unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws)
				}
			}
		}()
	}
	return nil
}

// wait waits until the console's output is copied.
func (c *consoleIO) wait() {
	if c.master != nil {
		<-c.outDone
	}
}

func (c *consoleIO) close() {
	c.closeOnce.Do(func() {
		if c.winch != nil {
			signal.Stop(c.winch)
			close(c.winch)
		}
		_ = c.child.Close()
		_ = c.parent.Close()
		if c.master != nil {
			_ = c.master.Close()
		}
	})
}

// recvFile receives one file descriptor sent with SCM_RIGHTS.
func recvFile(sock *os.File) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), name, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			return nil, err
		}
		if len(fds) == 1 {
			return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
		}
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
	}
	return nil, errors.New("no file descriptor received")
}
