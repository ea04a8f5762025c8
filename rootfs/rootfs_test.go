package rootfs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hbuild/hbuild/rootfs"
	"github.com/hbuild/hbuild/source/debian"
	"github.com/hbuild/hbuild/source/debian/debiantest"
)

type fakeArchive struct {
	*debiantest.Archive
	opts rootfs.Options
}

func newFake(t *testing.T, pkgs []debiantest.Package) *fakeArchive {
	t.Helper()
	a := debiantest.New(t)
	if err := a.Publish("stable", pkgs, nil); err != nil {
		t.Fatal(err)
	}
	return &fakeArchive{a, rootfs.Options{CacheDir: t.TempDir(), Mirror: a.URL, Suites: []string{"stable"}, Keyring: a.Keyring}}
}

func basePackages() []debiantest.Package {
	return []debiantest.Package{
		{Name: "base-files", Version: "12.4", Files: []debiantest.File{
			{Path: "usr/share/base-files/profile", Body: "PATH=/usr/bin\n"},
		}},
		{Name: "libc6", Version: "2.36-9", Depends: "base-files", Files: []debiantest.File{
			{Path: "lib/x86_64-linux-gnu/libc.so.6", Body: "ELF libc", Mode: 0o755},
			{Path: "lib64/ld-linux-x86-64.so.2", Type: tar.TypeSymlink, Link: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"},
			{Path: "etc/ld.so.conf.d/x86_64-linux-gnu.conf", Body: "/usr/lib/x86_64-linux-gnu\n"},
		}},
		{Name: "dash", Version: "0.5.12-2", Depends: "libc6", Compression: "gz", Files: []debiantest.File{
			{Path: "bin/dash", Body: "dash binary", Mode: 0o755},
		}},
		{Name: "gawk", Version: "1:5.2.1-2", Depends: "libc6", Provides: "awk", Compression: "zst", Files: []debiantest.File{
			{Path: "usr/bin/gawk", Body: "gawk binary", Mode: 0o755},
			{Path: "usr/bin/gawk-5.2.1", Type: tar.TypeLink, Link: "./usr/bin/gawk"},
		}},
		{Name: "gcc", Version: "4:12.2.0-3", Depends: "libc6, awk", Compression: "none", Files: []debiantest.File{
			{Path: "usr/bin/gcc", Type: tar.TypeSymlink, Link: "gcc-12"},
			{Path: "usr/bin/gcc-12", Body: "gcc", Mode: 0o755},
			{Path: "usr/bin/su-like", Body: "setuid", Mode: 0o4755},
			{Path: "dev/null", Type: tar.TypeChar},
			{Path: "etc/secret", Body: "x", Mode: 0o600},
		}},
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestBuildFromFakeArchive(t *testing.T) {
	f := newFake(t, basePackages())
	ctx := context.Background()
	lockPath := filepath.Join(t.TempDir(), "base.lock")
	b, err := rootfs.Build(ctx, []string{"gcc", "dash"}, lockPath, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "base" || !strings.HasPrefix(b.Digest, "sha256:") || len(b.Packages) != 5 {
		t.Fatalf("base %+v", b)
	}
	root := b.Dir
	for link, want := range map[string]string{
		"bin": "usr/bin", "lib": "usr/lib", "lib64": "usr/lib64", "sbin": "usr/sbin",
		"usr/bin/sh": "dash", "usr/bin/cc": "gcc", "usr/bin/awk": "gawk", "usr/bin/nawk": "gawk",
		"usr/lib64/ld-linux-x86-64.so.2": "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
	} {
		got, err := os.Readlink(filepath.Join(root, link))
		if err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %q", link, got, err, want)
		}
	}
	// usr-merge: /bin/dash landed in usr/bin.
	if got := read(t, filepath.Join(root, "usr/bin/dash")); got != "dash binary" {
		t.Errorf("usr/bin/dash = %q", got)
	}
	if got := read(t, filepath.Join(root, "usr/lib/x86_64-linux-gnu/libc.so.6")); got != "ELF libc" {
		t.Errorf("libc = %q", got)
	}
	if !strings.Contains(read(t, filepath.Join(root, "etc/passwd")), "root:x:0:0:") || !strings.Contains(read(t, filepath.Join(root, "etc/passwd")), "nobody:x:65534:") {
		t.Error("etc/passwd lacks root or nobody")
	}
	if !strings.Contains(read(t, filepath.Join(root, "etc/group")), "root:x:0:") {
		t.Error("etc/group lacks root")
	}
	if !strings.Contains(read(t, filepath.Join(root, "etc/ld.so.conf")), "include /etc/ld.so.conf.d/*.conf") {
		t.Error("ld.so.conf does not include ld.so.conf.d")
	}
	if got := read(t, filepath.Join(root, "etc/profile")); got != "PATH=/usr/bin\n" {
		t.Errorf("etc/profile = %q, want base-files' default", got)
	}
	status := read(t, filepath.Join(root, "var/lib/dpkg/status"))
	for _, p := range []string{"Package: gcc\nStatus: install ok installed", "Package: libc6", "Package: dash", "Package: gawk"} {
		if !strings.Contains(status, p) {
			t.Errorf("dpkg status lacks %q", p)
		}
	}
	// Hard link kept, set-id dropped, everything readable, devices skipped.
	a, _ := os.Stat(filepath.Join(root, "usr/bin/gawk"))
	c, _ := os.Stat(filepath.Join(root, "usr/bin/gawk-5.2.1"))
	if !os.SameFile(a, c) {
		t.Error("hard link gawk-5.2.1 is not the same file as gawk")
	}
	if st, _ := os.Stat(filepath.Join(root, "usr/bin/su-like")); st.Mode()&os.ModeSetuid != 0 || st.Mode().Perm() != 0o755 {
		t.Errorf("su-like mode %v", st.Mode())
	}
	if st, _ := os.Stat(filepath.Join(root, "etc/secret")); st.Mode().Perm()&0o004 == 0 {
		t.Errorf("etc/secret mode %v is not world-readable", st.Mode())
	}
	if _, err := os.Lstat(filepath.Join(root, "dev/null")); err == nil {
		t.Error("a device node was unpacked")
	}
	if st, _ := os.Stat(filepath.Join(root, "tmp")); st.Mode()&os.ModeSticky == 0 || st.Mode().Perm() != 0o777 {
		t.Errorf("tmp mode %v", st.Mode())
	}
	lock, err := debian.ReadLock(lockPath)
	if err != nil || len(lock.Packages) != 5 {
		t.Fatalf("lock: %v", err)
	}

	// Same lock, offline, archive gone: the cache answers.
	for _, p := range []string{"dists/stable/InRelease", debiantest.PoolPath(basePackages()[1])} {
		f.Remove(p)
	}
	off := f.opts
	off.Offline = true
	off.Mirror = ""
	b2, err := rootfs.Build(ctx, []string{"dash", "gcc"}, lockPath, off)
	if err != nil {
		t.Fatalf("offline rebuild: %v", err)
	}
	if b2.Dir != b.Dir || b2.Digest != b.Digest {
		t.Errorf("offline rebuild gave %s, want %s", b2.Digest, b.Digest)
	}
	// A new cache with the same debs (no bases): rebuilt offline, same bytes.
	other := t.TempDir()
	if err := os.MkdirAll(filepath.Join(other, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(f.opts.CacheDir, "blobs", "sha256"), filepath.Join(other, "blobs", "sha256")); err != nil {
		t.Fatal(err)
	}
	off.CacheDir = other
	b3, err := rootfs.BuildLock(ctx, lock, off)
	if err != nil {
		t.Fatalf("rebuild in another cache: %v", err)
	}
	if b3.Digest != b.Digest || b3.Dir == b.Dir {
		t.Errorf("rebuild in another cache: digest %s (want %s), dir %s", b3.Digest, b.Digest, b3.Dir)
	}
	if !bytes.Equal([]byte(read(t, b3.Layer)), []byte(read(t, b.Layer))) {
		t.Error("layers differ")
	}
	// A different request with the lock present and offline: refused.
	if _, err := rootfs.Build(ctx, []string{"dash"}, lockPath, off); err == nil || !strings.Contains(err.Error(), "hbuild rootfs lock") {
		t.Errorf("changed request offline: %v", err)
	}
}

func noCacheEntries(t *testing.T, cache string) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(cache, "bases"))
	for _, e := range ents {
		if e.IsDir() && e.Name() != "locks" {
			t.Errorf("cache holds %s after a failed build", e.Name())
		}
	}
}

func TestUnsafeDebs(t *testing.T) {
	outside := t.TempDir()
	good := debiantest.Package{Name: "libc6", Version: "1", Files: []debiantest.File{{Path: "usr/lib/libc.so.6", Body: "libc"}}}
	for _, tc := range []struct {
		name   string
		pkg    debiantest.Package
		errHas string
	}{
		{"dot-dot", debiantest.Package{Name: "evil", Version: "1", Files: []debiantest.File{{Path: "./../../../../" + outside + "/pwned", Body: "x", Raw: true}}}, "climbs out"},
		{"dot-dot inside", debiantest.Package{Name: "evil", Version: "1", Files: []debiantest.File{{Path: "./usr/../../x", Body: "x", Raw: true}}}, "climbs out"},
		{"hard link out", debiantest.Package{Name: "evil", Version: "1", Files: []debiantest.File{{Path: "./x", Type: tar.TypeLink, Link: "../../../etc/passwd", Raw: true}}}, "hard link"},
		{"truncated", debiantest.Package{Name: "evil", Version: "1", Deb: truncate(t, 0.6)}, "evil_1_amd64.deb"},
		{"not a deb", debiantest.Package{Name: "evil", Version: "1", Deb: []byte("PK\x03\x04 this is a zip")}, "not a .deb"},
		{"ar without data", debiantest.Package{Name: "evil", Version: "1", Deb: []byte("!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n")}, "no data.tar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, []debiantest.Package{good, tc.pkg})
			_, err := rootfs.Build(context.Background(), []string{"libc6", "evil"}, filepath.Join(t.TempDir(), "x.lock"), f.opts)
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("got %v, want an error with %q", err, tc.errHas)
			}
			noCacheEntries(t, f.opts.CacheDir)
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Fatalf("%s was written outside the tree", ents[0].Name())
			}
		})
	}
}

// truncate makes a real .deb and cuts it.
func truncate(t *testing.T, frac float64) []byte {
	deb, err := debiantest.BuildDeb(debiantest.Package{Name: "evil", Version: "1", Files: []debiantest.File{{Path: "usr/bin/big", Body: strings.Repeat("data ", 20000)}}, Compression: "none"})
	if err != nil {
		t.Fatal(err)
	}
	return deb[:int(float64(len(deb))*frac)]
}

func TestEscapingSymlinksAreContained(t *testing.T) {
	outside := t.TempDir()
	f := newFake(t, []debiantest.Package{
		{Name: "a", Version: "1", Files: []debiantest.File{
			{Path: "usr/share/esc", Type: tar.TypeSymlink, Link: outside},
			{Path: "usr/share/rel", Type: tar.TypeSymlink, Link: "../../../../../../../../" + outside},
			{Path: "usr/share/esc/pwned", Body: "abs"},
			{Path: "usr/share/rel/pwned2", Body: "rel"},
		}},
	})
	b, err := rootfs.Build(context.Background(), []string{"a"}, filepath.Join(t.TempDir(), "x.lock"), f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("%s was written outside the tree", ents[0].Name())
	}
	// The links were followed as if the tree were "/".
	if got := read(t, filepath.Join(b.Dir, outside, "pwned")); got != "abs" {
		t.Errorf("contained file = %q", got)
	}
	if got := read(t, filepath.Join(b.Dir, outside, "pwned2")); got != "rel" {
		t.Errorf("contained file = %q", got)
	}
}

func TestChecksumMismatchAndCorruptCache(t *testing.T) {
	pkgs := basePackages()
	f := newFake(t, pkgs)
	ctx := context.Background()
	lockPath := filepath.Join(t.TempDir(), "x.lock")
	l, err := rootfs.Lock(ctx, []string{"dash"}, lockPath, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	// The archive now serves another dash: the lock's sha256 refuses it.
	evil := pkgs[2]
	evil.Files = []debiantest.File{{Path: "bin/dash", Body: "evil", Mode: 0o755}}
	deb, err := debiantest.BuildDeb(evil)
	if err != nil {
		t.Fatal(err)
	}
	good := f.Get(debiantest.PoolPath(pkgs[2]))
	f.Set(debiantest.PoolPath(pkgs[2]), deb)
	_, err = rootfs.BuildLock(ctx, l, f.opts)
	var ce *debian.ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a checksum error", err)
	}
	noCacheEntries(t, f.opts.CacheDir)

	// A cached .deb changed on disk is caught when unpacking, and dropped.
	f.Set(debiantest.PoolPath(pkgs[2]), good)
	paths, err := debian.FetchDebs(ctx, l, debian.Options{CacheDir: f.opts.CacheDir, Mirror: f.URL})
	if err != nil {
		t.Fatal(err)
	}
	var dashDeb string
	for i, p := range l.Packages {
		if p.Name == "dash" {
			dashDeb = paths[i]
		}
	}
	data := []byte(read(t, dashDeb))
	data[len(data)-1] ^= 1
	if err := os.WriteFile(dashDeb, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = rootfs.BuildLock(ctx, l, f.opts)
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "download cache") {
		t.Fatalf("got %v, want a checksum error about the cache", err)
	}
	if _, err := os.Stat(dashDeb); err == nil {
		t.Error("the corrupt cached .deb was kept")
	}
	noCacheEntries(t, f.opts.CacheDir)
	// And the next build fetches it again.
	if _, err := rootfs.BuildLock(ctx, l, f.opts); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentBuildsShareOneEntry(t *testing.T) {
	f := newFake(t, basePackages())
	ctx := context.Background()
	l, err := rootfs.Lock(ctx, []string{"gcc", "dash"}, filepath.Join(t.TempDir(), "x.lock"), f.opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	bases := make([]*rootfs.Base, 4)
	errs := make([]error, 4)
	for i := range bases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bases[i], errs[i] = rootfs.BuildLock(ctx, l, f.opts)
		}()
	}
	wg.Wait()
	for i := range bases {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if bases[i].Dir != bases[0].Dir || bases[i].Digest != bases[0].Digest {
			t.Errorf("build %d: %s %s", i, bases[i].Dir, bases[i].Digest)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(f.opts.CacheDir, "bases"))
	n := 0
	for _, e := range ents {
		if e.IsDir() && e.Name() != "locks" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d entries in the cache, want 1", n)
	}
}

func TestLaterPackageWinsAConflict(t *testing.T) {
	f := newFake(t, []debiantest.Package{
		{Name: "aa", Version: "1", Files: []debiantest.File{{Path: "usr/share/x", Body: "from aa"}, {Path: "bin/tool", Body: "aa tool"}}},
		{Name: "zz", Version: "1", Files: []debiantest.File{{Path: "usr/share/x", Body: "from zz"}, {Path: "usr/bin/tool", Body: "zz tool"}}},
	})
	for i := 0; i < 3; i++ {
		opts := f.opts
		opts.CacheDir = t.TempDir()
		b, err := rootfs.Build(context.Background(), []string{"aa", "zz"}, filepath.Join(t.TempDir(), "x.lock"), opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := read(t, filepath.Join(b.Dir, "usr/share/x")); got != "from zz" {
			t.Fatalf("usr/share/x = %q", got)
		}
		if got := read(t, filepath.Join(b.Dir, "usr/bin/tool")); got != "zz tool" {
			t.Fatalf("usr/bin/tool = %q (bin/tool and usr/bin/tool are one file after usr-merge)", got)
		}
	}
}
