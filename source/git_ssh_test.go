//go:build linux

package source

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hbuild/hbuild/internal/testutil"
)

// lockedBuffer collects a process's output, written by its pipes and
// read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// sshServer is an sshd started by a test on a free loopback port: it lets
// root in with the keys of authorizedKeys only.
type sshServer struct {
	port       int
	knownHosts string // a known_hosts file holding the server's host key
	log        *lockedBuffer
	stop       func()
}

// sshdPath finds sshd, which lives in /usr/sbin, off the PATH of most users.
func sshdPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sshd")
	if err != nil {
		p = "/usr/sbin/sshd"
		_, err = os.Stat(p)
	}
	testutil.Require(t, err == nil, "sshd not on PATH nor in /usr/sbin (openssh-server; make deps installs it)")
	// sshd re-executes itself for every connection: it wants an absolute path.
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// sshKeygen makes an ed25519 key pair without passphrase at path and
// returns the public key line.
func sshKeygen(t *testing.T, keygen, path string) string {
	t.Helper()
	out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "hbuild-test", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(pub))
}

// startSSHServer starts sshd on loopback, retrying when the port chosen is
// taken before sshd binds it; it is killed when the test ends.
func startSSHServer(t *testing.T, authorizedKeys string) *sshServer {
	t.Helper()
	testutil.RequireRoot(t)
	sshd := sshdPath(t)
	keygen := testutil.RequireTool(t, "ssh-keygen")
	// sshd refuses to start without its privilege separation directory,
	// which the package's service, not its installation, creates.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hostKey := filepath.Join(dir, "host_ed25519")
	hostPub := sshKeygen(t, keygen, hostKey)
	for attempt := 1; ; attempt++ {
		s, log := startSSHDOnce(t, sshd, dir, hostKey, hostPub, authorizedKeys, attempt)
		if s != nil {
			return s
		}
		if attempt == 5 {
			t.Fatalf("sshd did not start:\n%s", log)
		}
	}
}

func startSSHDOnce(t *testing.T, sshd, dir, hostKey, hostPub, authorizedKeys string, attempt int) (*sshServer, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The banner carries a token chosen per start: only our sshd answers
	// with it, not another process that took the port.
	var tok [8]byte
	if _, err := rand.Read(tok[:]); err != nil {
		t.Fatal(err)
	}
	token := "hbuildtest" + hex.EncodeToString(tok[:])
	cfg := filepath.Join(dir, fmt.Sprintf("sshd_config.%d", attempt))
	conf := strings.Join([]string{
		"ListenAddress 127.0.0.1",
		"Port " + strconv.Itoa(port),
		"HostKey " + hostKey,
		"AuthorizedKeysFile " + authorizedKeys,
		"PidFile " + filepath.Join(dir, fmt.Sprintf("sshd.%d.pid", attempt)),
		"PermitRootLogin prohibit-password",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"StrictModes no",
		"PermitUserRC no",
		"PermitUserEnvironment no",
		"AllowTcpForwarding no",
		"X11Forwarding no",
		"AcceptEnv GIT_PROTOCOL",
		"LogLevel VERBOSE",
		"VersionAddendum " + token,
		"",
	}, "\n")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	log := &lockedBuffer{}
	cmd := exec.Command(sshd, "-D", "-e", "-f", cfg)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: the stop kills the per-connection children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		})
	}
	t.Cleanup(stop)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if !sshReady(addr, token, exited, 30*time.Second) {
		stop()
		return nil, log.String()
	}
	known := filepath.Join(dir, fmt.Sprintf("known_hosts.%d", attempt))
	if err := os.WriteFile(known, []byte(fmt.Sprintf("[127.0.0.1]:%d %s\n", port, hostPub)), 0o644); err != nil {
		t.Fatal(err)
	}
	return &sshServer{port: port, knownHosts: known, log: log, stop: stop}, ""
}

// sshReady polls addr until it answers with an SSH-2.0 banner carrying
// token, sshd exits or the deadline passes.
func sshReady(addr, token string, exited <-chan struct{}, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "SSH-2.0-") && strings.Contains(line, token) {
				return true
			}
		}
		select {
		case <-exited:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// startSSHAgent starts an ssh-agent on a socket in a temporary directory,
// killed when the test ends, and returns the socket.
func startSSHAgent(t *testing.T) string {
	t.Helper()
	agent := testutil.RequireTool(t, "ssh-agent")
	sock := filepath.Join(t.TempDir(), "agent.sock")
	log := &lockedBuffer{}
	cmd := exec.Command(agent, "-D", "-a", sock)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ssh-agent: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh-agent did not listen on %s:\n%s", sock, log.String())
		}
		select {
		case <-exited:
			t.Fatalf("ssh-agent exited:\n%s", log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sshAdd runs ssh-add with args against the agent at sock.
func sshAdd(t *testing.T, sock string, args ...string) {
	t.Helper()
	cmd := exec.Command(testutil.RequireTool(t, "ssh-add"), args...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add %v: %v: %s", args, err, out)
	}
}

// secretLines are the lines of a private key file that carry key material.
func secretLines(t *testing.T, key string) []string {
	t.Helper()
	b, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "-----") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no key material in %s", key)
	}
	return lines
}

// assertNoSecret fails when text holds the private key's path or any line
// of its material.
func assertNoSecret(t *testing.T, what, text, key string, secret []string) {
	t.Helper()
	if strings.Contains(text, key) || strings.Contains(text, "PRIVATE KEY") {
		t.Errorf("%s names the private key: %s", what, text)
	}
	for _, l := range secret {
		if strings.Contains(text, l) {
			t.Errorf("%s holds private key material: %s", what, text)
		}
	}
}

// assertTreeHasNoSecret walks dir (a mirror, a CAS) for files holding the
// private key's material.
func assertTreeHasNoSecret(t *testing.T, dir, key string, secret []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		assertNoSecret(t, p, string(b), key, secret)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFetchGitSSH fetches pinned commits over ssh:// from a real sshd on
// loopback that knows only a key held by the user's ssh-agent: the fetch
// works while the agent holds the key, and fails, saying why and without
// leaking the key, when there is no agent or it holds no key.
func TestFetchGitSSH(t *testing.T) {
	testutil.RequireRoot(t)
	ssh := testutil.RequireTool(t, "ssh")
	keygen := testutil.RequireTool(t, "ssh-keygen")
	r, first, second := sampleGitRepo(t)

	keys := t.TempDir()
	userKey := filepath.Join(keys, "id_ed25519")
	authorized := filepath.Join(keys, "authorized_keys")
	if err := os.WriteFile(authorized, []byte(sshKeygen(t, keygen, userKey)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := secretLines(t, userKey)
	srv := startSSHServer(t, authorized)
	sock := startSSHAgent(t)
	sshAdd(t, sock, userKey)

	// FetchGit's git inherits the environment: the agent's socket, and an
	// ssh that checks the test server's host key, ignores the user's ssh
	// configuration and never prompts.
	t.Setenv("SSH_AUTH_SOCK", sock)
	t.Setenv("GIT_SSH_COMMAND", strings.Join([]string{ssh, "-F", "/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + srv.knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=no",
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=60"}, " "))
	repo := fmt.Sprintf("ssh://root@127.0.0.1:%d%s", srv.port, r.dir)
	fetch := func(f *Fetcher, rev string) (*GitFetched, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return f.FetchGit(ctx, repo, rev, GitOptions{})
	}

	// The same commit over file:// is the reference export.
	local, err := gitFetcher(t, t.TempDir()).FetchGit(context.Background(), r.dir, first, GitOptions{})
	if err != nil {
		t.Fatal(err)
	}

	gitDir := t.TempDir()
	f := gitFetcher(t, gitDir)
	g, err := fetch(f, first)
	if err != nil {
		t.Fatalf("fetch over ssh: %v\nsshd:\n%s", err, srv.log.String())
	}
	if g.Commit != first || g.Tree != r.git("rev-parse", first+"^{tree}") || !g.Pinned || g.From != repo || len(g.Warnings) != 0 {
		t.Fatalf("GitFetched = %+v", g)
	}
	if g.SHA256 != local.SHA256 {
		t.Fatalf("ssh export %s differs from the file:// one %s", g.SHA256, local.SHA256)
	}
	dest := filepath.Join(t.TempDir(), "tree")
	if err := Unpack(g.Path, dest, UnpackOptions{Name: "git.tar"}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "README")); err != nil || string(b) != "one\n" {
		t.Fatalf("README = %q, %v", b, err)
	}
	// The server authenticated the agent's key, for root.
	if !strings.Contains(srv.log.String(), "Accepted publickey for root") {
		t.Fatalf("sshd did not log the key login:\n%s", srv.log.String())
	}
	// A later commit into the same (shallow) mirror.
	g2, err := fetch(f, second)
	if err != nil || g2.Commit != second || g2.Tree != r.git("rev-parse", second+"^{tree}") || !g2.Pinned || g2.From != repo {
		t.Fatalf("second commit over ssh: %+v %v", g2, err)
	}
	for _, x := range []*GitFetched{g, g2} {
		assertNoSecret(t, "GitFetched", fmt.Sprintf("%+v", *x), userKey, secret)
	}

	// Without the key the fetch fails, says the server refused the login,
	// and leaks nothing; nothing is cached.
	for _, c := range []struct {
		name  string
		setup func(t *testing.T)
	}{
		{"no agent", func(t *testing.T) {
			t.Setenv("SSH_AUTH_SOCK", "")
			os.Unsetenv("SSH_AUTH_SOCK") // t.Setenv restores it
		}},
		{"empty agent", func(t *testing.T) { sshAdd(t, sock, "-D") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.setup(t)
			nf := gitFetcher(t, t.TempDir())
			_, err := fetch(nf, first)
			if err == nil {
				t.Fatal("fetch without the key worked")
			}
			msg := err.Error()
			t.Logf("refused: %v", err)
			if !strings.Contains(msg, repo) || !strings.Contains(msg, "Permission denied (publickey)") {
				t.Fatalf("err = %v, want the repository and the refused login", err)
			}
			assertNoSecret(t, "error", msg, userKey, secret)
			if _, ok := nf.CAS.LookupKey("git", first); ok {
				t.Fatal("a failed fetch recorded an export")
			}
			assertTreeHasNoSecret(t, nf.GitDir, userKey, secret)
		})
	}

	// With the server gone, offline: from the CAS, and from the mirror
	// into a new CAS.
	srv.stop()
	f.Offline = true
	c, err := fetch(f, first)
	if err != nil || c.From != "cache" || c.SHA256 != g.SHA256 || !c.Pinned {
		t.Fatalf("offline from the CAS: %+v %v", c, err)
	}
	mf := gitFetcher(t, gitDir)
	mf.Offline = true
	m, err := fetch(mf, second)
	if err != nil || m.From != "mirror" || m.SHA256 != g2.SHA256 || !m.Pinned {
		t.Fatalf("offline from the mirror: %+v %v", m, err)
	}
	assertTreeHasNoSecret(t, gitDir, userKey, secret)
	assertTreeHasNoSecret(t, f.CAS.Dir(), userKey, secret)
}
