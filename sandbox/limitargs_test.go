package sandbox

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLimitArgs: an address-space limit is applied by the root's shell
// right before the command, and falls back to an rlimit of the container
// (on runc's init) only when the root has no shell.
func TestLimitArgs(t *testing.T) {
	withSh := t.TempDir()
	if err := os.MkdirAll(filepath.Join(withSh, "usr", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(withSh, "usr", "bin", "sh"), []byte("#!"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/bin", filepath.Join(withSh, "bin")); err != nil {
		t.Fatal(err)
	}
	noSh := t.TempDir()
	cmd := []string{"make", "-j2"}

	p := &limitPlan{asKiB: 65536}
	args, rl := p.limitArgs([]string{noSh, withSh}, cmd)
	want := []string{"/bin/sh", "-c", `ulimit -v "$0" && exec "$@"`, "65536", "make", "-j2"}
	if !reflect.DeepEqual(args, want) || len(rl) != 0 {
		t.Errorf("with a shell: args %q rlimits %v, want %q and none", args, rl, want)
	}

	args, rl = p.limitArgs([]string{noSh}, cmd)
	if !reflect.DeepEqual(args, cmd) || len(rl) != 1 || rl[0].Type != unix.RLIMIT_AS || rl[0].Hard != 65536*1024 {
		t.Errorf("without a shell: args %q rlimits %+v, want the command and RLIMIT_AS", args, rl)
	}

	args, rl = (&limitPlan{}).limitArgs([]string{withSh}, cmd)
	if !reflect.DeepEqual(args, cmd) || len(rl) != 0 {
		t.Errorf("no memory limit: args %q rlimits %v", args, rl)
	}
}
