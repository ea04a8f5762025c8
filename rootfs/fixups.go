package rootfs

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// mergedDirs are the usr-merge links Debian releases since bookworm expect:
// /bin -> usr/bin and so on.
var mergedDirs = map[string]string{
	"bin":   "usr/bin",
	"sbin":  "usr/sbin",
	"lib":   "usr/lib",
	"lib64": "usr/lib64",
}

// prepareTree makes the skeleton unpacking needs: the usr-merge links and
// their targets.
func prepareTree(root string) error {
	names := make([]string, 0, len(mergedDirs))
	for n := range mergedDirs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(root, mergedDirs[n]), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(mergedDirs[n], filepath.Join(root, n)); err != nil {
			return err
		}
	}
	return nil
}

// alternatives are the links update-alternatives would make from
// maintainer scripts: the link, then candidates in priority order (the first
// present wins). Paths are inside the tree.
var alternatives = []struct {
	link       string
	candidates []string
}{
	{"usr/bin/cc", []string{"usr/bin/gcc", "usr/bin/clang"}},
	{"usr/bin/c++", []string{"usr/bin/g++", "usr/bin/clang++"}},
	{"usr/bin/c89", []string{"usr/bin/c89-gcc"}},
	{"usr/bin/c99", []string{"usr/bin/c99-gcc"}},
	{"usr/bin/cpp", []string{"usr/bin/cpp-14", "usr/bin/cpp-13", "usr/bin/cpp-12", "usr/bin/cpp-11"}},
	{"usr/lib/cpp", []string{"usr/bin/cpp"}},
	{"usr/bin/awk", []string{"usr/bin/gawk", "usr/bin/mawk", "usr/bin/original-awk", "usr/bin/busybox"}},
	{"usr/bin/nawk", []string{"usr/bin/gawk", "usr/bin/mawk", "usr/bin/original-awk"}},
	{"usr/bin/which", []string{"usr/bin/which.debianutils"}},
	{"usr/bin/pager", []string{"usr/bin/less", "usr/bin/more"}},
	{"usr/sbin/rmt", []string{"usr/sbin/rmt-tar"}},
	{"usr/bin/lzma", []string{"usr/bin/xz"}},
	{"usr/bin/unlzma", []string{"usr/bin/unxz"}},
	{"usr/bin/lzcat", []string{"usr/bin/xzcat"}},
	{"usr/bin/lzmore", []string{"usr/bin/xzmore"}},
	{"usr/bin/lzless", []string{"usr/bin/xzless"}},
	{"usr/bin/lzdiff", []string{"usr/bin/xzdiff"}},
	{"usr/bin/lzcmp", []string{"usr/bin/xzcmp"}},
	{"usr/bin/lzgrep", []string{"usr/bin/xzgrep"}},
	{"usr/bin/lzegrep", []string{"usr/bin/xzegrep"}},
	{"usr/bin/lzfgrep", []string{"usr/bin/xzfgrep"}},
	{"usr/bin/yacc", []string{"usr/bin/bison.yacc", "usr/bin/byacc"}},
	{"usr/bin/lex", []string{"usr/bin/flex"}},
}

// exists reports whether tree path p exists (following links inside the
// tree).
func exists(root, p string) bool {
	h, err := securejoin.SecureJoin(root, p)
	if err != nil {
		return false
	}
	_, err = os.Stat(h)
	return err == nil
}

// relLink returns the target of a link at link pointing to target, relative
// when both are in the tree, so the tree reads right from the host too.
func relLink(link, target string) string {
	r, err := filepath.Rel(path.Dir(link), target)
	if err != nil {
		return "/" + target
	}
	return r
}

// writeIfMissing writes a file into the tree unless a package shipped it.
func writeIfMissing(root, p string, data []byte, mode os.FileMode) error {
	h, err := securejoin.SecureJoin(root, p)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(h); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
		return err
	}
	return os.WriteFile(h, data, mode)
}

func linkIfMissing(root, link, target string) error {
	h, err := securejoin.SecureJoin(root, link)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(h); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
		return err
	}
	return os.Symlink(relLink(link, target), h)
}

// finishTree adds what maintainer scripts would have made and what a sandbox
// needs: users and groups, /bin/sh, the alternatives links, the mount
// points, ld.so.conf, and dpkg's status file listing the packages.
func finishTree(root string, controls [][]byte) error {
	// base-files' maintainer script installs these from its defaults.
	for _, c := range []struct{ from, to string }{
		{"usr/share/base-files/profile", "etc/profile"},
		{"usr/share/base-files/dot.profile", "root/.profile"},
		{"usr/share/base-files/dot.bashrc", "root/.bashrc"},
		{"usr/share/base-files/motd", "etc/motd"},
		{"usr/share/base-files/info.dir", "usr/share/info/dir"},
	} {
		h, err := securejoin.SecureJoin(root, c.from)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(h)
		if err != nil {
			continue // no base-files in this base
		}
		if err := writeIfMissing(root, c.to, data, 0o644); err != nil {
			return fmt.Errorf("add /%s: %w", c.to, err)
		}
	}
	files := []struct {
		path string
		data string
		mode os.FileMode
	}{
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", 0o644},
		{"etc/group", "root:x:0:\nnogroup:x:65534:\n", 0o644},
		{"etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files\n", 0o644},
		{"etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0o644},
		{"etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n", 0o644},
	}
	for _, f := range files {
		if err := writeIfMissing(root, f.path, []byte(f.data), f.mode); err != nil {
			return fmt.Errorf("add /%s: %w", f.path, err)
		}
	}
	for _, d := range []string{"etc/ld.so.conf.d", "dev", "proc", "sys", "run", "root", "home", "tmp", "var/tmp", "usr/local/bin", "usr/local/lib", "usr/local/include"} {
		h, err := securejoin.SecureJoin(root, d)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(h, 0o755); err != nil {
			return fmt.Errorf("add /%s: %w", d, err)
		}
	}
	for _, d := range []string{"tmp", "var/tmp"} {
		h, _ := securejoin.SecureJoin(root, d)
		if err := os.Chmod(h, 0o777|os.ModeSticky); err != nil {
			return fmt.Errorf("add /%s: %w", d, err)
		}
	}
	// /bin/sh: dash, as dash's maintainer script makes it; bash otherwise.
	for _, sh := range []string{"dash", "bash"} {
		if exists(root, "usr/bin/"+sh) {
			if err := linkIfMissing(root, "usr/bin/sh", "usr/bin/"+sh); err != nil {
				return fmt.Errorf("add /bin/sh: %w", err)
			}
			break
		}
	}
	for _, alt := range alternatives {
		for _, c := range alt.candidates {
			if exists(root, c) {
				if err := linkIfMissing(root, alt.link, c); err != nil {
					return fmt.Errorf("add /%s: %w", alt.link, err)
				}
				break
			}
		}
	}
	if len(controls) > 0 {
		var status bytes.Buffer
		sorted := append([][]byte(nil), controls...)
		sort.Slice(sorted, func(i, j int) bool { return bytes.Compare(sorted[i], sorted[j]) < 0 })
		for _, c := range sorted {
			status.Write(statusStanza(c))
			status.WriteString("\n")
		}
		if err := writeIfMissing(root, "var/lib/dpkg/status", status.Bytes(), 0o644); err != nil {
			return fmt.Errorf("add dpkg status: %w", err)
		}
	}
	return nil
}

// statusStanza turns a control file into a dpkg status stanza.
func statusStanza(control []byte) []byte {
	lines := strings.Split(string(control), "\n")
	var out []string
	for i, l := range lines {
		out = append(out, l)
		if i == 0 && strings.HasPrefix(l, "Package:") {
			out = append(out, "Status: install ok installed")
		}
	}
	return []byte(strings.Join(out, "\n") + "\n")
}
