package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hbuild/hbuild/internal/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv("HBUILD_SANDBOX_TEST_HELPER") == "1" {
		crashHelper()
		return
	}
	// Keep this process's containers apart from other test processes'.
	if err := os.MkdirAll(filepath.Dir(stateBase), 0o711); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox test: make state directory:", err)
		os.Exit(1)
	}
	base, err := os.MkdirTemp(filepath.Dir(stateBase), "test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox test: make state directory:", err)
		os.Exit(1)
	}
	stateBase = base
	code := m.Run()
	_ = os.RemoveAll(base)
	os.Exit(code)
}

// testPath is the PATH every test command gets.
const testPath = "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"

// runOut runs spec with a generous safety timeout and returns the result,
// the captured stdout and stderr, and Run's error.
func runOut(t *testing.T, spec *Spec) (*Result, string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if spec.Stdout == nil {
		spec.Stdout = &stdout
	}
	if spec.Stderr == nil {
		spec.Stderr = &stderr
	}
	if spec.Env == nil {
		spec.Env = []string{testPath, "LANG=C.UTF-8"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, spec)
	return res, stdout.String(), stderr.String(), err
}

// sh runs a shell script in the toolchain root and fails the test unless it
// exits 0.
func sh(t *testing.T, root, script string, binds ...Bind) string {
	t.Helper()
	_, out, errOut, err := runOut(t, &Spec{Lower: []string{root}, Binds: binds, Args: []string{"/bin/sh", "-c", script}})
	if err != nil {
		t.Fatalf("%s: %v\nstderr: %s", script, err, errOut)
	}
	return out
}

func exitError(t *testing.T, err error) *ExitError {
	t.Helper()
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("want an *ExitError, got %T: %v", err, err)
	}
	return ee
}

type sandboxCase struct {
	name     string
	rootless bool // also run as an unprivileged user
	f        func(t *testing.T, root string)
}

var sandboxCases = []sandboxCase{
	{"RunAndOutput", true, testRunAndOutput},
	{"ExitCodesSignalsStderr", true, testExitCodes},
	{"CommandNotFound", true, testCommandNotFound},
	{"NoNetwork", true, testNoNetwork},
	{"Loopback", false, testLoopback},
	{"NoHostFiles", true, testNoHostFiles},
	{"ReadOnly", true, testReadOnly},
	{"CompileWithGCC", true, testCompile},
	{"NoHostZlib", true, testNoHostZlib},
	{"Isolation", false, testIsolation},
	{"EnvDirUmaskHostname", true, testEnvDirUmask},
	{"StackedLayers", true, testStackedLayers},
	{"Stdin", true, testStdin},
	{"TTY", true, testTTY},
	{"Timeout", true, testTimeout},
	{"Cancel", true, testCancel},
	{"MemoryLimit", true, testMemoryLimit},
	{"PidsLimit", true, testPidsLimit},
	{"ForkBomb", true, testForkBomb},
	{"CgroupLimits", false, testCgroupLimits},
	{"MinimalRoot", true, testMinimalRoot},
	{"Parallel", true, testParallel},
	{"KilledCaller", false, testKilledCaller},
	{"OrphanCgroups", false, testOrphanCgroups},
}

func runCases(t *testing.T, rootless bool) {
	root := testutil.ToolchainRoot(t)
	for _, c := range sandboxCases {
		if rootless && !c.rootless {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			checkNoLeaks(t, func(t *testing.T) { c.f(t, root) }, root)
		})
	}
}

func TestSandbox(t *testing.T) {
	testutil.RequireRoot(t)
	runCases(t, false)
}

func TestSandboxRootless(t *testing.T) {
	testutil.RequireNonRoot(t)
	runCases(t, true)
}

func testRunAndOutput(t *testing.T, root string) {
	res, out, errOut, err := runOut(t, &Spec{Lower: []string{root}, Args: []string{"/bin/sh", "-c", "echo hello; seq 1 20000; echo to-stderr >&2"}})
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	want.WriteString("hello\n")
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	if out != want.String() {
		t.Errorf("stdout: got %d bytes, want %d (first line %q)", len(out), want.Len(), strings.SplitN(out, "\n", 2)[0])
	}
	if errOut != "to-stderr\n" {
		t.Errorf("stderr = %q", errOut)
	}
	if res.ExitCode != 0 || res.Signal != 0 || res.Duration <= 0 || res.MaxRSS <= 0 {
		t.Errorf("result = %+v", res)
	}
}

func testExitCodes(t *testing.T, root string) {
	res, _, errOut, err := runOut(t, &Spec{Lower: []string{root}, Args: []string{"/bin/sh", "-c", "echo out-line; echo first-error >&2; echo boom >&2; exit 3"}})
	ee := exitError(t, err)
	if res == nil || res.ExitCode != 3 || ee.ExitCode != 3 || ee.Signal != 0 || ee.TimedOut || ee.OOM || ee.Canceled {
		t.Errorf("exit 3: result %+v, error %+v", res, ee)
	}
	if errOut != "first-error\nboom\n" {
		t.Errorf("stderr = %q", errOut)
	}
	// stdout and stderr are separate pipes: only each one's order is kept.
	var errLines []string
	for _, l := range ee.Tail {
		if l != "out-line" {
			errLines = append(errLines, l)
		}
	}
	if len(ee.Tail) != 3 || strings.Join(errLines, "|") != "first-error|boom" {
		t.Errorf("tail = %q", ee.Tail)
	}
	msg := ee.Error()
	for _, want := range []string{"/bin/sh -c", "exit 3", "exit status 3", "boom"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}

	// A long output keeps only its last lines.
	_, _, _, err = runOut(t, &Spec{Lower: []string{root}, Args: []string{"/bin/sh", "-c", "seq 1 1000; exit 1"}})
	ee = exitError(t, err)
	if len(ee.Tail) != TailLines || ee.Tail[0] != "981" || ee.Tail[TailLines-1] != "1000" {
		t.Errorf("tail of seq 1 1000 = %q", ee.Tail)
	}

	// Killed by a signal: the command (pid 1 of its namespace, which
	// ignores signals it has no handler for) really crashes.
	src := t.TempDir()
	crash := "int main(void) { volatile int *p = 0; return *p; }\n"
	if err := os.WriteFile(filepath.Join(src, "crash.c"), []byte(crash), 0o644); err != nil {
		t.Fatal(err)
	}
	res, _, _, err = runOut(t, &Spec{Lower: []string{root}, Binds: []Bind{{Source: src, Dest: "/build"}}, Dir: "/build",
		Args: []string{"/bin/sh", "-c", "gcc -o crash crash.c && exec ./crash"}})
	ee = exitError(t, err)
	if res.Signal != syscall.SIGSEGV || ee.Signal != syscall.SIGSEGV || res.ExitCode != 128+int(syscall.SIGSEGV) {
		t.Errorf("SIGSEGV: result %+v, error %+v", res, ee)
	}
	if !strings.Contains(ee.Error(), "signal 11") {
		t.Errorf("error %q does not name the signal", ee.Error())
	}
}

func testCommandNotFound(t *testing.T, root string) {
	res, _, _, err := runOut(t, &Spec{Lower: []string{root}, Args: []string{"/no/such/command"}})
	if err == nil || res != nil {
		t.Fatalf("running a missing command: result %v, error %v", res, err)
	}
	if !strings.Contains(err.Error(), "/no/such/command") {
		t.Errorf("error %q does not name the command", err)
	}
}

// listenHost listens on the host's loopback and reports whether anything
// connected by the time stop is called.
func listenHost(t *testing.T) (port int, stop func() bool) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan bool, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err == nil
	}()
	return ln.Addr().(*net.TCPAddr).Port, func() bool {
		ln.Close()
		return <-accepted
	}
}

func testNoNetwork(t *testing.T, root string) {
	port, stop := listenHost(t)
	_, out, errOut, err := runOut(t, &Spec{Lower: []string{root}, Args: []string{"/bin/bash", "-c",
		fmt.Sprintf("cat /proc/net/dev; if exec 3<>/dev/tcp/127.0.0.1/%d; then echo CONNECTED; fi", port)}})
	if stop() {
		t.Error("the host's listener accepted a connection from the sandbox")
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if strings.Contains(out, "CONNECTED") {
		t.Error("the sandbox connected to the host's loopback")
	}
	if !strings.Contains(errOut, "Network is unreachable") {
		t.Errorf("connect error = %q, want Network is unreachable (lo down)", errOut)
	}
	if ifs := interfaces(out); strings.Join(ifs, ",") != "lo" {
		t.Errorf("interfaces = %v, want only lo", ifs)
	}
}

func interfaces(procNetDev string) []string {
	var ifs []string
	for _, l := range strings.Split(procNetDev, "\n") {
		if name, _, ok := strings.Cut(l, ":"); ok && !strings.Contains(name, "|") {
			ifs = append(ifs, strings.TrimSpace(name))
		}
	}
	sort.Strings(ifs)
	return ifs
}

func testLoopback(t *testing.T, root string) {
	port, stop := listenHost(t)
	_, out, errOut, err := runOut(t, &Spec{Lower: []string{root}, Network: NetLoopback, Args: []string{"/bin/bash", "-c",
		fmt.Sprintf("cat /proc/net/dev; if exec 3<>/dev/tcp/127.0.0.1/%d; then echo CONNECTED; fi", port)}})
	if stop() {
		t.Error("the host's listener accepted a connection from the sandbox")
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if strings.Contains(out, "CONNECTED") {
		t.Error("the sandbox reached the host's loopback")
	}
	// lo is up: the port is simply closed on the sandbox's own loopback.
	if !strings.Contains(errOut, "Connection refused") {
		t.Errorf("connect error = %q, want Connection refused (lo up)", errOut)
	}
	if ifs := interfaces(out); strings.Join(ifs, ",") != "lo" {
		t.Errorf("interfaces = %v, want only lo", ifs)
	}
}

func testNoHostFiles(t *testing.T, root string) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "host-marker")
	if err := os.WriteFile(marker, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := sh(t, root, fmt.Sprintf(
		"test -e %[1]s && echo SEES-MARKER; test -e %[2]s && echo SEES-DIR; test -e /var/tmp/hbuild-test && echo SEES-VARTMP; ls -A /tmp | wc -l",
		marker, dir))
	if strings.Contains(out, "SEES") {
		t.Errorf("the sandbox sees host paths: %q", out)
	}
	if first := strings.SplitN(out, "\n", 2)[0]; first != "0" {
		t.Errorf("/tmp is not empty in the sandbox: %q entries", first)
	}
}

func testReadOnly(t *testing.T, root string) {
	ro := t.TempDir()
	rw := t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "dep.txt"), []byte("dependency\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := treeDigest(t, root)
	script := `
for p in /new-file /usr/new-file /etc/passwd /opt/hbuild/parts/dep/new /opt/hbuild/parts/dep/dep.txt; do
	if (echo x > $p) 2>/dev/null; then echo "WROTE $p"; fi
done
cat /opt/hbuild/parts/dep/dep.txt
echo built > /opt/hbuild/parts/me/result
mkdir -p /opt/hbuild/parts/me/sub && echo nested > /opt/hbuild/parts/me/sub/file
echo scratch > /tmp/scratch && cat /tmp/scratch
`
	out := sh(t, root, script,
		Bind{Source: ro, Dest: "/opt/hbuild/parts/dep", ReadOnly: true},
		Bind{Source: rw, Dest: "/opt/hbuild/parts/me"})
	if strings.Contains(out, "WROTE") {
		t.Errorf("wrote a read-only path: %q", out)
	}
	if !strings.Contains(out, "dependency\n") || !strings.Contains(out, "scratch\n") {
		t.Errorf("output = %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "result")); err != nil || string(b) != "built\n" {
		t.Errorf("read-write bind: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "sub", "file")); err != nil || string(b) != "nested\n" {
		t.Errorf("read-write bind: %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(ro); len(ents) != 1 {
		t.Errorf("read-only bind source has %d entries, want 1", len(ents))
	}
	if after := treeDigest(t, root); after != before {
		t.Error("the root layer changed")
	}
}

// treeDigest lists names, sizes and modes of the top two levels of dir.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, pat := range []string{"*", "*/*"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %v %d %v\n", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

func testCompile(t *testing.T, root string) {
	dep := t.TempDir()
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dep, "include"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dep, "include", "greet.h"), []byte("static inline const char *greeting(void) { return \"hello from a dependency\"; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := "#include <stdio.h>\n#include <greet.h>\nint main(void) { printf(\"%s\\n\", greeting()); return 0; }\n"
	if err := os.WriteFile(filepath.Join(src, "hello.c"), []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	cxx := "#include <iostream>\nint main() { std::cout << \"hello from C++\" << std::endl; }\n"
	if err := os.WriteFile(filepath.Join(src, "hello.cc"), []byte(cxx), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, errOut, err := runOut(t, &Spec{
		Lower: []string{root},
		Binds: []Bind{{Source: dep, Dest: "/opt/hbuild/parts/dep", ReadOnly: true}, {Source: src, Dest: "/build"}},
		Dir:   "/build",
		Env:   []string{testPath, "HOME=/build", "LANG=C.UTF-8"},
		Args: []string{"/bin/sh", "-c", "gcc -O2 -I/opt/hbuild/parts/dep/include -o hello hello.c && ./hello && " +
			"g++ -o hellocc hello.cc && ./hellocc && make --version | head -1"},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.HasPrefix(out, "hello from a dependency\nhello from C++\nGNU Make") {
		t.Errorf("output = %q", out)
	}
	if fi, err := os.Stat(filepath.Join(src, "hello")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("compiled program not in the read-write bind: %v", err)
	}
}

func testNoHostZlib(t *testing.T, root string) {
	_, hostErr := os.Stat("/usr/include/zlib.h")
	testutil.Require(t, hostErr == nil, "zlib1g-dev installed on the host (make deps installs it)")
	src := t.TempDir()
	prog := "#include <zlib.h>\nint main(void) { return zlibVersion() == 0; }\n"
	if err := os.WriteFile(filepath.Join(src, "z.c"), []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	noinc := "int zlibVersion(void);\nint main(void) { return zlibVersion() == 0; }\n"
	if err := os.WriteFile(filepath.Join(src, "noinc.c"), []byte(noinc), 0o644); err != nil {
		t.Fatal(err)
	}
	binds := []Bind{{Source: src, Dest: "/build"}}
	_, _, errOut, err := runOut(t, &Spec{Lower: []string{root}, Binds: binds, Dir: "/build", Args: []string{"gcc", "-c", "z.c"}})
	exitError(t, err)
	if !strings.Contains(errOut, "zlib.h: No such file or directory") {
		t.Errorf("#include <zlib.h>: stderr = %q", errOut)
	}
	_, _, errOut, err = runOut(t, &Spec{Lower: []string{root}, Binds: binds, Dir: "/build", Args: []string{"gcc", "-o", "noinc", "noinc.c", "-lz"}})
	exitError(t, err)
	if !strings.Contains(errOut, "cannot find -lz") {
		t.Errorf("-lz: stderr = %q", errOut)
	}
}

func testIsolation(t *testing.T, root string) {
	out := sh(t, root, `echo pid=$$
grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status
echo interrupts=$(wc -c < /proc/interrupts)
cat /proc/self/mountinfo
if (echo 1 > /proc/sys/kernel/printk) 2>/dev/null; then echo WROTE-PROC-SYS; fi
if (mknod /tmp/dev c 1 3) 2>/dev/null; then echo MKNOD; fi
ls /dev | tr '\n' ' '; echo`)
	for _, want := range []string{
		"pid=1\n",
		"CapEff:\t00000000a00404fb\n", // chown dac_override fowner fsetid kill setgid setuid net_bind_service sys_chroot audit_write setfcap
		"CapBnd:\t00000000a00404fb\n",
		"NoNewPrivs:\t1\n",
		"interrupts=0\n",
		"\nfd full null ptmx pts random shm stderr stdin stdout tty urandom zero \n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// runc's masked and read-only paths: those the kernel has are mounts.
	for _, p := range append(append([]string(nil), maskedPaths...), readonlyPaths...) {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if !strings.Contains(out, " "+p+" ") {
			t.Errorf("%s is not masked or read-only", p)
		}
	}
	if strings.Contains(out, "WROTE-PROC-SYS") || strings.Contains(out, "MKNOD") {
		t.Errorf("the sandbox could change the kernel or make devices:\n%s", out)
	}
	if SeccompEnabled != strings.Contains(out, "Seccomp:\t2") {
		t.Errorf("seccomp filter present = %v, SeccompEnabled = %v", strings.Contains(out, "Seccomp:\t2"), SeccompEnabled)
	}
	if SeccompEnabled {
		// The filter refuses new namespaces (util-linux's unshare calls unshare(2)).
		_, _, errOut, err := runOut(t, &Spec{Lower: []string{root}, Args: []string{"unshare", "--user", "true"}})
		exitError(t, err)
		if !strings.Contains(errOut, "Operation not permitted") {
			t.Errorf("unshare --user: stderr %q", errOut)
		}
	}
}

func testEnvDirUmask(t *testing.T, root string) {
	umask := uint32(0o077)
	_, out, errOut, err := runOut(t, &Spec{
		Lower:    []string{root},
		Env:      []string{"PATH=/usr/bin:/bin", "ONLY=this"},
		Dir:      "/work//here/",
		Hostname: "builder",
		Umask:    &umask,
		Args:     []string{"/bin/sh", "-c", "env | sort | grep -v '^PWD='; pwd; hostname; umask; touch /tmp/f; stat -c %a /tmp/f"},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	// HOME comes from the root's /etc/passwd when the environment has none.
	want := "HOME=/root\nONLY=this\nPATH=/usr/bin:/bin\n/work/here\nbuilder\n0077\n600\n"
	if out != want {
		t.Errorf("output = %q, want %q", out, want)
	}
	if got := sh(t, root, "hostname; umask"); got != "hbuild\n0022\n" {
		t.Errorf("default hostname and umask = %q", got)
	}
}

func testStackedLayers(t *testing.T, root string) {
	upper := t.TempDir()
	for name, content := range map[string]string{
		"usr/share/hbuild-test/upper.txt": "from the upper layer\n",
		"etc/hostname":                    "overridden\n",
		"etc/hbuild-extra":                "extra\n",
		"extra-top/file":                  "top-level dir\n",
	} {
		p := filepath.Join(upper, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rw := t.TempDir()
	_, out, errOut, err := runOut(t, &Spec{
		Lower: []string{root, upper},
		Binds: []Bind{{Source: rw, Dest: "/usr/share/hbuild-test/out"}},
		Args: []string{"/bin/sh", "-c", "cat /usr/share/hbuild-test/upper.txt /etc/hostname /etc/hbuild-extra /extra-top/file; " +
			"test -x /usr/bin/gcc && echo has-gcc; head -1 /etc/os-release; echo x > /usr/share/hbuild-test/out/w; if (echo > /etc/hbuild-extra) 2>/dev/null; then echo WROTE; fi"},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	want := "from the upper layer\noverridden\nextra\ntop-level dir\nhas-gcc\nPRETTY_NAME="
	if !strings.HasPrefix(out, want) || strings.Contains(out, "WROTE") {
		t.Errorf("output = %q, want prefix %q and no write", out, want)
	}
	if _, err := os.Stat(filepath.Join(rw, "w")); err != nil {
		t.Errorf("bind inside a merged directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(upper, "usr/share/hbuild-test/out")); !os.IsNotExist(err) {
		t.Errorf("a mount point was made in a layer: %v", err)
	}
}

func testStdin(t *testing.T, root string) {
	_, out, _, err := runOut(t, &Spec{Lower: []string{root}, Stdin: strings.NewReader("line one\nline two\n"), Args: []string{"/bin/sh", "-c", "cat; test -t 0 || echo not-a-tty"}})
	if err != nil {
		t.Fatal(err)
	}
	if out != "line one\nline two\nnot-a-tty\n" {
		t.Errorf("output = %q", out)
	}
}

func testTTY(t *testing.T, root string) {
	_, out, _, err := runOut(t, &Spec{Lower: []string{root}, TTY: true, Stdin: strings.NewReader("typed\n"), Args: []string{"/bin/sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty; tty; read x; echo got=$x"}})
	if err != nil {
		t.Fatal(err)
	}
	out = strings.ReplaceAll(out, "\r\n", "\n")
	// The terminal echoes the input whenever it arrives.
	if !strings.Contains(out, "is-a-tty\n") || !strings.Contains(out, "/dev/pts/0\n") || !strings.Contains(out, "got=typed\n") {
		t.Errorf("output = %q", out)
	}
}

func testTimeout(t *testing.T, root string) {
	res, _, _, err := runOut(t, &Spec{Lower: []string{root}, Limits: Limits{Timeout: 300 * time.Millisecond}, Args: []string{"/bin/sh", "-c", "sleep 1000 & sleep 1000; echo never"}})
	ee := exitError(t, err)
	if !ee.TimedOut || ee.Canceled || res.Signal != syscall.SIGKILL {
		t.Errorf("result %+v, error %+v", res, ee)
	}
	if !strings.Contains(ee.Error(), "timed out") {
		t.Errorf("error %q does not say it timed out", ee.Error())
	}
}

// lineWatcher calls f once when a line equal to want is written.
type lineWatcher struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	f    func()
	done bool
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.want+"\n") {
		w.done = true
		w.f()
	}
	return len(p), nil
}

func testCancel(t *testing.T, root string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &lineWatcher{want: "ready", f: cancel}
	res, err := Run(ctx, &Spec{
		Lower:  []string{root},
		Env:    []string{testPath},
		Stdout: w,
		// Children in the background and a grandchild in a new session:
		// all must die with the container.
		Args: []string{"/bin/sh", "-c", "sleep 1000 & setsid sleep 1000 & (sleep 1000 &); echo ready; wait"},
	})
	ee := exitError(t, err)
	if !ee.Canceled || ee.TimedOut || !errors.Is(err, context.Canceled) || res.Signal != syscall.SIGKILL {
		t.Errorf("result %+v, error %+v", res, ee)
	}
}

func testMemoryLimit(t *testing.T, root string) {
	// tail keeps the whole line it reads, and /dev/zero has no newline.
	res, _, errOut, err := runOut(t, &Spec{Lower: []string{root}, Limits: Limits{Memory: 64 << 20, Timeout: time.Minute}, Args: []string{"tail", "/dev/zero"}})
	ee := exitError(t, err)
	if ee.TimedOut {
		t.Fatalf("the memory hog ran into the timeout: %v", ee)
	}
	if Rootless() && !delegatedCgroup() {
		// RLIMIT_AS: the allocation fails.
		if !strings.Contains(errOut, "memory exhausted") {
			t.Errorf("stderr = %q, error %v", errOut, ee)
		}
		return
	}
	if !ee.OOM || res.Signal != syscall.SIGKILL || !strings.Contains(ee.Error(), "out of memory") {
		t.Errorf("result %+v, error %v", res, ee)
	}
}

func testPidsLimit(t *testing.T, root string) {
	_, _, _, err := runOut(t, &Spec{Lower: []string{root}, Limits: Limits{Pids: 16, Timeout: time.Minute},
		Args: []string{"/bin/sh", "-c", "for i in $(seq 1 64); do sleep 1000 & done; echo all-started"}})
	ee := exitError(t, err)
	if ee.TimedOut || !strings.Contains(strings.Join(ee.Tail, "\n"), "Cannot fork") {
		t.Errorf("error %v", ee)
	}
}

func testForkBomb(t *testing.T, root string) {
	// The bomb cannot end by itself: the timeout ends it, and the pids
	// limit keeps it small meanwhile.
	_, _, _, err := runOut(t, &Spec{Lower: []string{root}, Limits: Limits{Pids: 32, Memory: 256 << 20, Timeout: 3 * time.Second},
		Args: []string{"/bin/bash", "-c", "bomb() { bomb | bomb & }; bomb; while :; do sleep 1000; done"}})
	ee := exitError(t, err)
	if !ee.TimedOut || !strings.Contains(ee.Error(), "fork") {
		t.Errorf("error %v", ee)
	}
	// The host is fine: the next container runs.
	if out := sh(t, root, "echo alive"); out != "alive\n" {
		t.Errorf("after the fork bomb: %q", out)
	}
}

// testCgroupLimits checks the limits land in the container's cgroup while
// it runs.
func testCgroupLimits(t *testing.T, root string) {
	inR, inW := io.Pipe()
	found := map[string]string{}
	var readErr error
	w := &lineWatcher{want: "ready", f: func() {
		defer inW.Close()
		cgs := ownCgroups(t)
		for _, cg := range cgs {
			for _, f := range []string{"memory.limit_in_bytes", "memory.max", "pids.max", "cpu.cfs_quota_us", "cpu.max"} {
				if b, err := os.ReadFile(filepath.Join(cg, f)); err == nil {
					found[f] = strings.TrimSpace(string(b))
				}
			}
		}
		if len(cgs) == 0 {
			readErr = errors.New("no cgroup found for the running container")
		}
	}}
	_, _, errOut, err := runOut(t, &Spec{Lower: []string{root}, Stdin: inR, Stdout: w,
		Limits: Limits{Memory: 100 << 20, Pids: 50, CPUs: 1.5},
		Args:   []string{"/bin/sh", "-c", "echo ready; read x; true"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if readErr != nil {
		t.Fatal(readErr)
	}
	mem := found["memory.limit_in_bytes"] + found["memory.max"]
	cpu := found["cpu.cfs_quota_us"] + found["cpu.max"]
	if mem != fmt.Sprint(100<<20) || found["pids.max"] != "50" || !strings.HasPrefix(cpu, "150000") {
		t.Errorf("cgroup settings = %v", found)
	}
}

// testMinimalRoot runs in a root that has nothing but dash and the C
// library: no /proc, /dev, /tmp or working directory to mount on.
func testMinimalRoot(t *testing.T, root string) {
	tiny := t.TempDir()
	for src, dst := range map[string]string{
		"usr/bin/dash":                       "bin/sh",
		"usr/lib/x86_64-linux-gnu/libc.so.6": "lib/x86_64-linux-gnu/libc.so.6",
		"usr/lib64/ld-linux-x86-64.so.2":     "lib64/ld-linux-x86-64.so.2",
	} {
		b, err := os.ReadFile(filepath.Join(root, src))
		testutil.Require(t, err == nil, "an x86-64 toolchain root ("+src+")")
		if err := os.MkdirAll(filepath.Join(tiny, filepath.Dir(dst)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tiny, dst), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := treeDigest(t, tiny)
	_, out, errOut, err := runOut(t, &Spec{Lower: []string{tiny}, Dir: "/work/dir", Args: []string{"/bin/sh", "-c",
		"echo ok > /tmp/f; read x < /tmp/f; echo $x; test -d /proc/self && echo proc; test -c /dev/null && echo devnull; echo $PWD; if (echo > /bin/new) 2>/dev/null; then echo WROTE; fi"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if out != "ok\nproc\ndevnull\n/work/dir\n" {
		t.Errorf("output = %q", out)
	}
	if after := treeDigest(t, tiny); after != before {
		t.Errorf("the root changed:\n%s\nwas\n%s", after, before)
	}
}

func testParallel(t *testing.T, root string) {
	var wg sync.WaitGroup
	outs := make([]string, 4)
	errs := make([]error, 4)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b bytes.Buffer
			// One writer for stdout and stderr: never written concurrently
			// (the race detector would see it).
			_, errs[i] = Run(context.Background(), &Spec{Lower: []string{root}, Env: []string{testPath}, Stdout: &b, Stderr: &b,
				Args: []string{"/bin/sh", "-c", fmt.Sprintf("seq 1 500; echo container %d >&2; seq 501 1000", i)}})
			outs[i] = b.String()
		}()
	}
	wg.Wait()
	for i, out := range outs {
		if errs[i] != nil {
			t.Errorf("container %d: %v", i, errs[i])
		}
		if !strings.Contains(out, fmt.Sprintf("container %d\n", i)) || !strings.HasSuffix(out, "1000\n") {
			t.Errorf("container %d: output %q...", i, out[:min(len(out), 80)])
		}
	}
}

// crashHelper runs one container for testKilledCaller, which kills this
// process while the container runs.
func crashHelper() {
	stateBase = os.Getenv("HBUILD_SANDBOX_TEST_STATE")
	_, err := Run(context.Background(), &Spec{
		Lower:  []string{os.Getenv("HBUILD_SANDBOX_TEST_ROOT")},
		Env:    []string{testPath},
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Args:   []string{"/bin/sh", "-c", "sleep 1000 & echo ready; wait"},
	})
	fmt.Fprintln(os.Stderr, "helper: the container ended:", err)
	os.Exit(1)
}

// testKilledCaller kills an hbuild process (a helper) while its container
// runs: the container's processes die with it, and the next Run sweeps
// away the state, staging root and cgroups it left.
func testKilledCaller(t *testing.T, root string) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HBUILD_SANDBOX_TEST_HELPER=1", "HBUILD_SANDBOX_TEST_STATE="+stateBase, "HBUILD_SANDBOX_TEST_ROOT="+root)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}
	pids := descendants(t, cmd.Process.Pid)
	if len(pids) < 2 {
		t.Fatalf("container processes: %v", pids)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	// The kernel kills them (parent-death signal); wait for it.
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range pids {
		pid, _ := strconv.Atoi(strings.SplitN(p, "(", 2)[0])
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("container process %s outlived its killed caller", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	helperCgroups := fmt.Sprintf("hbuild-%d-", cmd.Process.Pid)
	if len(leftovers(t, helperCgroups)) == 0 {
		t.Fatal("the killed helper left no state: the test proves nothing")
	}
	sweepStale(filepath.Join(stateBase, "state"), filepath.Join(stateBase, "roots"))
	if l := leftovers(t, helperCgroups); len(l) > 0 {
		t.Errorf("after the sweep: %v", l)
	}
}

// testOrphanCgroups: cgroups of a dead hbuild process with no state left
// to find them by are swept too.
func testOrphanCgroups(t *testing.T, root string) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("hbuild-%d-", dead.Process.Pid)
	var made []string
	for _, dir := range cgroupParents() {
		p := filepath.Join(dir, prefix+"orphan")
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		made = append(made, p)
	}
	if len(made) == 0 {
		t.Fatal("no cgroup hierarchy found")
	}
	sweepStale(filepath.Join(stateBase, "state"), filepath.Join(stateBase, "roots"))
	for _, p := range made {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s survived the sweep", p)
			_ = os.Remove(p)
		}
	}
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z") && !strings.HasPrefix(s[i+1:], " X")
}

// leftovers lists state entries and cgroups whose names start with prefix.
func leftovers(t *testing.T, prefix string) []string {
	var out []string
	for _, d := range []string{"state", "roots"} {
		ents, _ := os.ReadDir(filepath.Join(stateBase, d))
		for _, e := range ents {
			if strings.HasPrefix("hbuild-"+e.Name(), prefix) {
				out = append(out, d+"/"+e.Name())
			}
		}
	}
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), prefix) {
			out = append(out, p)
			return filepath.SkipDir
		}
		return nil
	})
	return out
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"no command", Spec{Lower: []string{dir}}, "no command"},
		{"no lower", Spec{Args: []string{"true"}}, "no lower"},
		{"relative lower", Spec{Lower: []string{"rel"}, Args: []string{"true"}}, "not an absolute path"},
		{"missing lower", Spec{Lower: []string{dir + "/nope"}, Args: []string{"true"}}, "no such file"},
		{"bind to /", Spec{Lower: []string{dir}, Args: []string{"true"}, Binds: []Bind{{Source: dir, Dest: "/"}}}, "other than /"},
		{"bind to /proc", Spec{Lower: []string{dir}, Args: []string{"true"}, Binds: []Bind{{Source: dir, Dest: "/proc/x"}}}, "managed by the sandbox"},
		{"relative bind", Spec{Lower: []string{dir}, Args: []string{"true"}, Binds: []Bind{{Source: dir, Dest: "a/b"}}}, "absolute path"},
		{"bind to / uncleanly", Spec{Lower: []string{dir}, Args: []string{"true"}, Binds: []Bind{{Source: dir, Dest: "/a/.."}}}, "other than /"},
		{"twice", Spec{Lower: []string{dir}, Args: []string{"true"}, Binds: []Bind{{Source: dir, Dest: "/a"}, {Source: dir, Dest: "/b/../a/"}}}, "twice"},
		{"relative dir", Spec{Lower: []string{dir}, Args: []string{"true"}, Dir: "build"}, "working directory"},
		{"negative", Spec{Lower: []string{dir}, Args: []string{"true"}, Limits: Limits{Memory: -1}}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), &tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	tb := newTailBuffer(3)
	out, errw := tb.writer(), tb.writer()
	fmt.Fprint(out, "a\nb")
	fmt.Fprint(errw, "e1\n")
	fmt.Fprint(out, "c\r\nd\n")
	fmt.Fprint(errw, "partial")
	got := tb.lines()
	if strings.Join(got, "|") != "bc|d|partial" {
		t.Errorf("lines = %q", got)
	}
	tb = newTailBuffer(2)
	w := tb.writer()
	fmt.Fprint(w, strings.Repeat("x", 3*maxLine)+"\n")
	if l := tb.lines(); len(l) != 1 || len(l[0]) != maxLine {
		t.Errorf("long line kept as %d bytes", len(l[0]))
	}
}

func TestParseNetwork(t *testing.T) {
	for _, n := range []Network{NetNone, NetLoopback, NetHost} {
		got, err := ParseNetwork(n.String())
		if err != nil || got != n {
			t.Errorf("ParseNetwork(%q) = %v, %v", n.String(), got, err)
		}
	}
	if _, err := ParseNetwork("bridge"); err == nil {
		t.Error("ParseNetwork(bridge) succeeded")
	}
}

func BenchmarkRunTrue(b *testing.B) {
	root := testutil.ToolchainRoot(b)
	ctx := context.Background()
	spec := &Spec{Lower: []string{root}, Args: []string{"/bin/true"}}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Run(ctx, spec); err != nil {
			b.Fatal(err)
		}
	}
}
