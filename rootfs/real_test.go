package rootfs_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbuild/hbuild/internal/testutil"
	"github.com/hbuild/hbuild/rootfs"
	"github.com/hbuild/hbuild/sandbox"
	"github.com/hbuild/hbuild/source/debian"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if realLockDir != "" {
		os.RemoveAll(realLockDir)
	}
	os.Exit(code)
}

// sharedCache is shared by every test process on the machine (bases and
// downloads are flock-safe), so CI downloads the .debs once.
const sharedCache = "/var/tmp/hbuild-test/cache"

var (
	realOnce    sync.Once
	realLockDir string
	realErr     error
)

// realOptions returns options for Debian's real archive (the host's apt
// sources), or stops the test when it is not reachable. Locks are made once
// per test process, so a run sees one consistent archive.
func realOptions(t *testing.T) rootfs.Options {
	t.Helper()
	realOnce.Do(func() {
		m, err := debian.DefaultMirror()
		if err != nil {
			realErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodHead, m.URI+"/dists/"+m.Suites[0]+"/InRelease", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			realErr = err
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			realErr = errors.New(resp.Status)
			return
		}
		if err := os.MkdirAll(sharedCache, 0o755); err != nil {
			realErr = err
			return
		}
		realLockDir, realErr = os.MkdirTemp("", "hbuild-rootfs-locks-")
	})
	testutil.Require(t, realErr == nil, "Debian's archive from the host's apt sources must be reachable")
	return rootfs.Options{CacheDir: sharedCache, LockDir: realLockDir, Events: func(s string) { t.Log(s) }}
}

// run runs a shell script in the sandbox on the given lower dirs.
func run(t *testing.T, lower []string, binds []sandbox.Bind, script string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := sandbox.Run(ctx, &sandbox.Spec{
		Lower: lower, Binds: binds, Dir: "/work",
		Env:    []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/work", "LANG=C.UTF-8"},
		Args:   []string{"/bin/sh", "-c", script},
		Stdout: &out, Stderr: &out,
	})
	return out.String(), err
}

// allowedDev are the development packages the toolchain may hold: glibc's
// (and what Debian split out of it) and gcc's.
var allowedDev = map[string]bool{
	"libc6-dev": true, "linux-libc-dev": true, "libcrypt-dev": true, "libnsl-dev": true,
	"libtirpc-dev": true, "libgcc-12-dev": true, "libstdc++-12-dev": true,
}

func TestRealToolchain(t *testing.T) {
	opts := realOptions(t)
	ctx := context.Background()
	b, err := rootfs.Toolchain(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range b.Packages {
		names[p.Name] = true
		if strings.HasSuffix(p.Name, "-dev") && !allowedDev[p.Name] {
			t.Errorf("the toolchain holds %s: headers or link libraries beyond glibc's and gcc's", p.Name)
		}
	}
	for _, want := range rootfs.ToolchainPackages {
		if !names[want] {
			t.Errorf("the toolchain lacks %s", want)
		}
	}
	for _, p := range []string{"usr/include/zlib.h", "usr/include/libxml2", "usr/include/openssl", "usr/include/gmp.h", "usr/include/lzma.h",
		"usr/lib/x86_64-linux-gnu/libz.so", "usr/lib/x86_64-linux-gnu/libssl.so", "usr/lib/x86_64-linux-gnu/libxml2.so",
		"usr/lib/x86_64-linux-gnu/libzstd.so", "usr/lib/x86_64-linux-gnu/libgmp.so", "usr/lib/x86_64-linux-gnu/liblzma.so"} {
		if _, err := os.Lstat(filepath.Join(b.Dir, p)); err == nil {
			t.Errorf("the toolchain has /%s", p)
		}
	}
	for _, p := range []string{"usr/include/stdio.h", "usr/include/c++", "usr/lib/x86_64-linux-gnu/libc.so", "usr/bin/cc", "usr/bin/c++", "bin/sh", "usr/bin/awk", "etc/passwd"} {
		if _, err := os.Stat(filepath.Join(b.Dir, p)); err != nil {
			t.Errorf("the toolchain lacks /%s: %v", p, err)
		}
	}

	testutil.RequireRoot(t)
	work := t.TempDir()
	files := map[string]string{
		"hello.c":  "#include <stdio.h>\nint main(void){printf(\"hello from C\\n\");return 0;}\n",
		"hello.cc": "#include <iostream>\n#include <vector>\nint main(){std::vector<int> v{1,2,3};std::cout<<\"hello from C++ \"<<v.size()<<std::endl;}\n",
		"zlib.c":   "#include <zlib.h>\nint main(void){return 0;}\n",
		"xml.c":    "#include <libxml/parser.h>\nint main(void){return 0;}\n",
		"ssl.c":    "int SSL_library_init(void);\nint main(void){return SSL_library_init();}\n",
		"Makefile": "all:\n\t@echo make works $$(echo 1 2 | awk '{print $$1+$$2}')\n",
	}
	for n, body := range files {
		if err := os.WriteFile(filepath.Join(work, n), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	binds := []sandbox.Bind{{Source: work, Dest: "/work"}}
	lower := []string{b.Dir}
	out, err := run(t, lower, binds, "cc -O2 -o hello hello.c && ./hello && c++ -O2 -o hellocc hello.cc && ./hellocc && make -s && gcc --version | head -1 && sed --version | head -1 && tar --version | head -1 && xz --version | head -1")
	if err != nil {
		t.Fatalf("compile and run: %v\n%s", err, out)
	}
	for _, want := range []string{"hello from C\n", "hello from C++ 3\n", "make works 3\n", "gcc (Debian"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, tc := range []struct{ script, want string }{
		{"cc -c zlib.c", "zlib.h: No such file or directory"},
		{"cc -c xml.c", "libxml/parser.h: No such file or directory"},
		{"cc -o ssl ssl.c -lssl", "cannot find -lssl"},
	} {
		out, err := run(t, lower, binds, tc.script)
		var ee *sandbox.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("%s: want a failure, got %v\n%s", tc.script, err, out)
			continue
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s: output lacks %q:\n%s", tc.script, tc.want, out)
		}
	}

	// The glibc base runs what the toolchain built.
	g, err := rootfs.Glibc(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(g.Dir, "usr/bin/gcc")); err == nil {
		t.Error("the glibc base has gcc")
	}
	if _, err := os.Lstat(filepath.Join(g.Dir, "usr/bin/sh")); err == nil {
		t.Error("the glibc base has a /bin/sh")
	}
	var res bytes.Buffer
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := sandbox.Run(rctx, &sandbox.Spec{
		Lower: []string{g.Dir}, Binds: []sandbox.Bind{{Source: work, Dest: "/work", ReadOnly: true}},
		Env: []string{"PATH=/usr/bin"}, Args: []string{"/work/hellocc"}, Stdout: &res, Stderr: &res,
	}); err != nil {
		t.Fatalf("run the C++ program on the glibc base: %v\n%s", err, res.String())
	}
	if res.String() != "hello from C++ 3\n" {
		t.Errorf("on the glibc base: %q", res.String())
	}
}

func TestRealSameLockSameLayer(t *testing.T) {
	opts := realOptions(t)
	ctx := context.Background()
	a, err := rootfs.Toolchain(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := debian.ReadLock(a.LockFile)
	if err != nil {
		t.Fatal(err)
	}
	// Another cache (sharing only the downloads): built again, offline.
	other := t.TempDir()
	if err := os.MkdirAll(filepath.Join(other, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(sharedCache, "blobs", "sha256"), filepath.Join(other, "blobs", "sha256")); err != nil {
		t.Fatal(err)
	}
	o2 := rootfs.Options{CacheDir: other, Offline: true, Compression: "zstd"}
	b, err := rootfs.BuildLock(ctx, l, o2)
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != b.Digest || a.DiffID != b.DiffID {
		t.Fatalf("same lock, different layers: %s vs %s", a.Digest, b.Digest)
	}
	da, err := os.ReadFile(a.Layer)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b.Layer)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(da, db) {
		t.Fatal("layer files differ")
	}
}
