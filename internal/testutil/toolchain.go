package testutil

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// ToolchainPackages are the Debian packages of the test toolchain tree, on
// top of the essential set. Development packages of libraries (zlib1g-dev,
// libxml2-dev, ...) are deliberately absent: tests prove that a build cannot
// see the host's.
var ToolchainPackages = []string{
	"gcc", "g++", "libc6-dev", "make", "binutils", "coreutils", "bash", "dash",
	"sed", "grep", "gawk", "findutils", "diffutils", "patch", "tar", "gzip",
	"bzip2", "xz-utils",
}

// toolchainBase is where the tree is made, once per machine; the version
// suffix changes when ToolchainPackages or the way it is made changes.
const toolchainBase = "/var/tmp/hbuild-test"

const toolchainName = "toolchain-v1"

var (
	toolchainMu  sync.Mutex
	toolchainDir string
)

// ToolchainRoot returns a Debian toolchain tree (gcc, g++, libc6-dev, make,
// binutils and the usual shell tools) usable as a read-only sandbox root. The
// tree is made once per machine with mmdebstrap from the host's apt sources,
// under /var/tmp/hbuild-test, and shared by every test process (a file lock
// serialises its making). Making it needs root and mmdebstrap; tests running
// as another user find it made by an earlier root run. Callers must only
// read it.
func ToolchainRoot(t testing.TB) string {
	t.Helper()
	toolchainMu.Lock()
	defer toolchainMu.Unlock()
	if toolchainDir != "" {
		return toolchainDir
	}
	final := filepath.Join(toolchainBase, toolchainName)
	if toolchainReady(final) {
		toolchainDir = final
		return final
	}
	Require(t, os.Geteuid() == 0, "the toolchain tree "+final+" is missing and making it needs root (run the root tests first)")
	mmdebstrap := RequireTool(t, "mmdebstrap")
	if err := makeToolchain(mmdebstrap, final); err != nil {
		t.Fatalf("make toolchain tree: %v", err)
	}
	toolchainDir = final
	return final
}

// toolchainReady reports whether the finished tree is there. The tree only
// ever appears through a rename, so its existence means it is complete.
func toolchainReady(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "usr", "bin", "gcc"))
	return err == nil
}

func makeToolchain(mmdebstrap, final string) error {
	if err := os.MkdirAll(toolchainBase, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(toolchainBase, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(toolchainBase, toolchainName+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN) //nolint:errcheck
	if toolchainReady(final) {
		return nil // made by another process while we waited
	}
	sources, err := hostDebianSources()
	if err != nil {
		return err
	}
	suite, err := hostCodename()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(toolchainBase, toolchainName+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	srcFile := filepath.Join(tmp, "sources.list")
	if err := os.WriteFile(srcFile, []byte(strings.Join(sources, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	root := filepath.Join(tmp, "root")
	// A download from the archive can fail for a moment: try again.
	for attempt := 1; ; attempt++ {
		cmd := exec.Command(mmdebstrap,
			"--mode=root", "--variant=essential", "--quiet",
			"--include="+strings.Join(ToolchainPackages, ","),
			"--dpkgopt=path-exclude=/usr/share/man/*",
			"--dpkgopt=path-exclude=/usr/share/locale/*",
			"--dpkgopt=path-exclude=/usr/share/doc/*",
			"--dpkgopt=path-include=/usr/share/doc/*/copyright",
			suite, root, srcFile)
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
		out, err := cmd.CombinedOutput()
		if err == nil {
			break
		}
		if attempt == 3 {
			return fmt.Errorf("run mmdebstrap (%d attempts): %w\n%s", attempt, err, out)
		}
		if err := os.RemoveAll(root); err != nil {
			return err
		}
	}
	// Rootless tests read the tree as an unprivileged user.
	if out, err := exec.Command("chmod", "-R", "a+rX", root).CombinedOutput(); err != nil {
		return fmt.Errorf("make %s readable: %w\n%s", root, err, out)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		return err
	}
	if err := os.Rename(root, final); err != nil {
		return fmt.Errorf("install toolchain tree: %w", err)
	}
	return nil
}

// hostCodename returns the host's Debian release code name (bookworm).
func hostCodename() (string, error) {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VERSION_CODENAME="); ok {
			return strings.Trim(v, `"`), nil
		}
	}
	return "", fmt.Errorf("read /etc/os-release: no VERSION_CODENAME")
}

// hostDebianSources returns one-line apt sources for the host's Debian
// release, taken from its apt configuration (other vendors' repositories
// are left out).
func hostDebianSources() ([]string, error) {
	codename, err := hostCodename()
	if err != nil {
		return nil, err
	}
	var files []string
	for _, pat := range []string{"/etc/apt/sources.list", "/etc/apt/sources.list.d/*.list", "/etc/apt/sources.list.d/*.sources"} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		var entries []aptSource
		if strings.HasSuffix(f, ".sources") {
			entries = parseDeb822Sources(string(data))
		} else {
			entries = parseOneLineSources(string(data))
		}
		for _, e := range entries {
			if !e.debianSuite(codename) {
				continue
			}
			opts := ""
			if e.signedBy != "" {
				opts = "[signed-by=" + e.signedBy + "] "
			}
			out = append(out, fmt.Sprintf("deb %s%s %s %s", opts, e.uri, e.suite, strings.Join(e.components, " ")))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("find Debian %s apt sources: none in /etc/apt/sources.list or /etc/apt/sources.list.d", codename)
	}
	return out, nil
}

type aptSource struct {
	uri, suite, signedBy string
	components           []string
}

// debianSuite reports whether the source serves the Debian release
// (bookworm, bookworm-updates, bookworm-security) and is signed by Debian.
func (s aptSource) debianSuite(codename string) bool {
	if s.suite != codename && !strings.HasPrefix(s.suite, codename+"-") {
		return false
	}
	return s.signedBy == "" || strings.Contains(s.signedBy, "debian-archive-keyring")
}

func parseOneLineSources(text string) []aptSource {
	var out []aptSource
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if !strings.HasPrefix(line, "deb ") {
			continue
		}
		rest := strings.TrimSpace(line[len("deb "):])
		var s aptSource
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				continue
			}
			for _, o := range strings.Fields(rest[1:end]) {
				if v, ok := strings.CutPrefix(o, "signed-by="); ok {
					s.signedBy = v
				}
			}
			rest = rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) < 3 {
			continue
		}
		s.uri, s.suite, s.components = f[0], f[1], f[2:]
		out = append(out, s)
	}
	return out
}

func parseDeb822Sources(text string) []aptSource {
	var out []aptSource
	for _, para := range strings.Split(text, "\n\n") {
		fields := map[string]string{}
		key := ""
		for _, line := range strings.Split(para, "\n") {
			if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
				continue
			}
			if (line[0] == ' ' || line[0] == '\t') && key != "" {
				fields[key] += " " + strings.TrimSpace(line)
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			key = strings.ToLower(strings.TrimSpace(k))
			fields[key] = strings.TrimSpace(v)
		}
		if fields["enabled"] == "no" || !strings.Contains(" "+fields["types"]+" ", " deb ") {
			continue
		}
		for _, uri := range strings.Fields(fields["uris"]) {
			for _, suite := range strings.Fields(fields["suites"]) {
				out = append(out, aptSource{uri: uri, suite: suite, signedBy: fields["signed-by"], components: strings.Fields(fields["components"])})
			}
		}
	}
	return out
}
