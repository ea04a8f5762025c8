package engine

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/hbuild/hbuild/internal/testutil"
	"github.com/hbuild/hbuild/profile"
	"github.com/hbuild/hbuild/sandbox"
)

// baseCache is shared by the tests of every package run on this machine:
// the Debian bases (toolchain, glibc) are made once, from the locks
// committed in examples/xml.
const baseCache = "/var/tmp/hbuild-test/engine-bases"

func lockDir(t testing.TB) string {
	d, err := filepath.Abs("../examples/xml")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// realEngine is an engine with the real sandbox; it needs root.
func realEngine(t *testing.T, cacheDir string, opts Options) (*Engine, *eventLog) {
	t.Helper()
	testutil.RequireRoot(t)
	ev := &eventLog{}
	opts.CacheDir, opts.BaseCacheDir, opts.LockDir = cacheDir, baseCache, lockDir(t)
	if opts.Events == nil {
		opts.Events = ev.add
	}
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, ev
}

// tarball makes a .tar.gz of files under a top directory.
func tarball(t testing.TB, top string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: top + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		mode := int64(0o644)
		if strings.HasSuffix(name, "configure") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: top + "/" + name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(content))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// A tiny autoconf-like package: a library and a program using it.
var greetFiles = map[string]string{
	"configure": `#!/bin/sh
prefix=/usr/local
for a; do case $a in --prefix=*) prefix=${a#--prefix=};; esac; done
prefix=$(echo "$prefix" | tr -d '"')
printf 'PREFIX=%s\n' "$prefix" > config.mk
`,
	"Makefile": `include config.mk
all: libgreet.so
libgreet.so: greet.c
	$(CC) -O2 -fPIC -shared -Wl,-soname,libgreet.so.1 -o $@ greet.c
install: all
	mkdir -p $(PREFIX)/lib $(PREFIX)/include
	cp libgreet.so $(PREFIX)/lib/libgreet.so.1
	ln -sf libgreet.so.1 $(PREFIX)/lib/libgreet.so
	cp greet.h $(PREFIX)/include/
`,
	"greet.c": "#include <stdio.h>\nvoid greet(const char *w) { printf(\"hello, %s\\n\", w); }\n",
	"greet.h": "void greet(const char *w);\n",
}

var helloFiles = map[string]string{
	"hello.c": "#include <greet.h>\nint main(int c, char **v) { greet(c > 1 ? v[1] : \"world\"); return 0; }\n",
}

type fixture struct {
	srv      *httptest.Server
	greet    []byte
	hello    []byte
	requests sync.Map
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{greet: tarball(t, "greet-1.0", greetFiles), hello: tarball(t, "hello-1.0", helloFiles)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := f.requests.LoadOrStore(r.URL.Path, new(int))
		*n.(*int)++
		switch r.URL.Path {
		case "/greet-1.0.tar.gz":
			w.Write(f.greet)
		case "/hello-1.0.tar.gz":
			w.Write(f.hello)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) profile(t *testing.T, extra string) string {
	return writeProfile(t, map[string]string{"hbuild.cfg": fmt.Sprintf(`
[buildout]
parts = img

[greet]
recipe = slapos.recipe.cmmi
url = %[1]s/greet-1.0.tar.gz
sha256 = %[2]s

[hello]
recipe = build
url = %[1]s/hello-1.0.tar.gz
sha256 = %[3]s
message = hello
script =
  mkdir -p $location/bin
  gcc -O2 -I${greet:location}/include -L${greet:location}/lib -Wl,-rpath=${greet:location}/lib -o $location/bin/hello hello.c -lgreet
  echo "$message" > $location/message

[img]
recipe = oci-image
parts = hello
entrypoint = hello
`, f.srv.URL, sha(f.greet), sha(f.hello)) + extra})
}

func planReal(t *testing.T, e *Engine, path string, overrides ...string) *Plan {
	t.Helper()
	pl, err := e.Plan(context.Background(), path, PlanOptions{Load: profile.LoadOptions{IgnoreUserDefaults: true, Overrides: overrides}})
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

func TestSandboxBuildRunRebuild(t *testing.T) {
	f := newFixture(t)
	path := f.profile(t, "")
	cache := t.TempDir()
	e, _ := realEngine(t, cache, Options{Jobs: 2})
	ctx := context.Background()
	pl := planReal(t, e, path)
	res, err := e.Build(ctx, pl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Built, " ") != "greet hello" || len(res.Images) != 1 {
		t.Fatalf("built %v images %v", res.Built, res.Images)
	}
	img, err := e.Image(ctx, pl, pl.Part("img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	var out bytes.Buffer
	if _, err := e.RunLoaded(ctx, img, RunOptions{Args: []string{"hello", "sandbox"}, Stdout: &out, Stderr: &out}); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if out.String() != "hello, sandbox\n" {
		t.Fatalf("output %q", out.String())
	}
	// Nothing to do the second time, with a fresh engine on the same cache.
	e2, ev2 := realEngine(t, cache, Options{BuildPart: func(context.Context, *PartBuild) error { return errors.New("must not build") }})
	res, err = e2.Build(ctx, planReal(t, e2, path), nil)
	if err != nil || len(res.Built) != 0 || strings.Join(ev2.parts(EvCached), " ") != "greet hello" {
		t.Fatalf("second build: %+v %v", res, err)
	}
	// One option of hello changes: hello is rebuilt, greet is not.
	pl3 := planReal(t, e, path, "hello:message=bye")
	res, err = e.Build(ctx, pl3, nil)
	if err != nil || strings.Join(res.Built, " ") != "hello" || strings.Join(res.Cached, " ") != "greet" {
		t.Fatalf("after change: %+v %v", res, err)
	}
	ent, _ := e.Store.Get(pl3.Part("hello").Key)
	if b, err := os.ReadFile(filepath.Join(ent.Tree(), "message")); err != nil || string(b) != "bye\n" {
		t.Fatalf("message %q %v", b, err)
	}
	// The layer holds the part at its location.
	if ent.Meta.Layer.Digest == "" || ent.Meta.Location != "/opt/hbuild/parts/hello" || len(ent.Meta.Policy) == 0 {
		t.Errorf("meta %+v", ent.Meta)
	}
	// hbuild check: the part is reproducible.
	cr, err := e.Check(ctx, pl3, []string{"hello"})
	if err != nil || len(cr) != 1 || !cr[0].Same() {
		t.Fatalf("check: %+v %v", cr, err)
	}
}

func TestSandboxChecksumMismatchAndFindLinks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e, _ := realEngine(t, t.TempDir(), Options{})
	bad := writeProfile(t, map[string]string{"hbuild.cfg": fmt.Sprintf(`
[buildout]
parts = greet
[greet]
recipe = cmmi
url = %s/greet-1.0.tar.gz
sha256 = %s
`, f.srv.URL, sha([]byte("something else")))})
	pl := planReal(t, e, bad)
	_, err := e.Build(ctx, pl, nil)
	if err == nil || !strings.Contains(err.Error(), "greet:url") || !strings.Contains(strings.ToLower(err.Error()), "mismatch") {
		t.Fatalf("error %v", err)
	}
	if ent, _ := e.Store.Get(pl.Part("greet").Key); ent != nil {
		t.Fatal("failed part stored")
	}
	// An unreachable URL: find-links (a local directory) has the file.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	mirror := t.TempDir()
	if err := os.WriteFile(filepath.Join(mirror, "greet-1.0.tar.gz"), f.greet, 0o644); err != nil {
		t.Fatal(err)
	}
	fl := writeProfile(t, map[string]string{"hbuild.cfg": fmt.Sprintf(`
[buildout]
parts = greet
find-links = %s
[greet]
recipe = cmmi
url = http://%s/greet-1.0.tar.gz
sha256 = %s
`, mirror, dead, sha(f.greet))})
	res, err := e.Build(ctx, planReal(t, e, fl), nil)
	if err != nil || strings.Join(res.Built, " ") != "greet" {
		t.Fatalf("find-links build: %+v %v", res, err)
	}
}

func TestSandboxHostLibrariesInvisible(t *testing.T) {
	testutil.Require(t, fileExists("/usr/include/libxml2/libxml/parser.h"), "libxml2-dev installed on the host (make deps)")
	f := newFixture(t)
	e, _ := realEngine(t, t.TempDir(), Options{})
	// The host has libxml2's headers and library; the sandbox does not.
	path := writeProfile(t, map[string]string{"hbuild.cfg": fmt.Sprintf(`
[buildout]
parts = uses-xml
[uses-xml]
recipe = build
url = %s/hello-1.0.tar.gz
sha256 = %s
script =
  printf '#include <libxml/parser.h>\nint main(void) { xmlInitParser(); return 0; }\n' > x.c
  gcc -I/usr/include/libxml2 -o $location/x x.c -lxml2
`, f.srv.URL, sha(f.hello))})
	_, err := e.Build(context.Background(), planReal(t, e, path), nil)
	var pe *PartError
	if !errors.As(err, &pe) || pe.Step != "script" || pe.ExitCode == 0 || !strings.Contains(strings.Join(pe.Tail, "\n"), "libxml/parser.h: No such file or directory") {
		t.Fatalf("error %v", err)
	}
	if !strings.Contains(err.Error(), "part uses-xml failed in step script") || !strings.Contains(err.Error(), "log: ") {
		t.Errorf("message %q", err.Error())
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestSandboxKeepFailedAndShell(t *testing.T) {
	f := newFixture(t)
	e, _ := realEngine(t, t.TempDir(), Options{KeepFailed: true})
	path := writeProfile(t, map[string]string{"hbuild.cfg": fmt.Sprintf(`
[buildout]
parts = broken
[broken]
recipe = build
url = %s/hello-1.0.tar.gz
sha256 = %s
script =
  echo half-done > marker
  echo partial > $location/partial
  exit 7
`, f.srv.URL, sha(f.hello))})
	ctx := context.Background()
	pl := planReal(t, e, path)
	_, err := e.Build(ctx, pl, nil)
	var pe *PartError
	if !errors.As(err, &pe) || pe.ExitCode != 7 || !strings.Contains(err.Error(), "sandbox tree kept at") {
		t.Fatalf("error %v", err)
	}
	var out bytes.Buffer
	err = e.Shell(ctx, pl, "broken", ShellOptions{Args: []string{"/bin/sh", "-c", "cat marker $location/partial; pwd"}, Stdout: &out, Stderr: &out})
	if err != nil || out.String() != "half-done\npartial\n/build/src/hello-1.0\n" {
		t.Fatalf("shell: %v %q", err, out.String())
	}
}

func TestSandboxNotReproducibleNamesFiles(t *testing.T) {
	f := newFixture(t)
	e, _ := realEngine(t, t.TempDir(), Options{})
	path := writeProfile(t, map[string]string{"hbuild.cfg": fmt.Sprintf(`
[buildout]
parts = leaky
[leaky]
recipe = build
url = %s/hello-1.0.tar.gz
sha256 = %s
script =
  uname -n > $location/host
  pwd > $location/dir
  date +%%H > $location/hour
  echo same > $location/same
  chmod 0644 $location/same
`, f.srv.URL, sha(f.hello))})
	res, err := e.Check(context.Background(), planReal(t, e, path), nil)
	if err != nil || len(res) != 1 || res[0].Same() {
		t.Fatalf("check: %+v %v", res, err)
	}
	diffs := strings.Join(res[0].Diffs, "\n")
	for _, want := range []string{"opt/hbuild/parts/leaky/host: content", "opt/hbuild/parts/leaky/dir: content", "opt/hbuild/parts/leaky/hour: content"} {
		if !strings.Contains(diffs, want) {
			t.Errorf("diffs lack %q:\n%s", want, diffs)
		}
	}
	if strings.Contains(diffs, "leaky/same") {
		t.Errorf("same file reported:\n%s", diffs)
	}
	// With the usual source directory, the path no longer differs; the
	// host name and the hour still do.
	res, err = e.CheckWith(context.Background(), planReal(t, e, path), nil, CheckOptions{SameSourceDir: true})
	if err != nil || len(res) != 1 || res[0].Same() {
		t.Fatalf("check --same-source-dir: %+v %v", res, err)
	}
	diffs = strings.Join(res[0].Diffs, "\n")
	if strings.Contains(diffs, "leaky/dir") || !strings.Contains(diffs, "leaky/host: content") {
		t.Errorf("same source dir, diffs:\n%s", diffs)
	}
}

// Cancelling in the middle of a step leaves no process, no mount and no
// partial cache entry.
func TestSandboxCancel(t *testing.T) {
	f := newFixture(t)
	cache := t.TempDir()
	token := fmt.Sprintf("hbuild-cancel-%d", os.Getpid())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	e, _ := realEngine(t, cache, Options{Events: func(ev Event) {
		if ev.Kind == EvLog && ev.Line == "started "+token {
			once.Do(cancel)
		}
	}})
	path := writeProfile(t, map[string]string{"hbuild.cfg": fmt.Sprintf(`
[buildout]
parts = slow
[slow]
recipe = build
url = %s/hello-1.0.tar.gz
sha256 = %s
script =
  echo partial > $location/partial
  echo started %s
  exec sleep 3600 %s
`, f.srv.URL, sha(f.hello), token, token)})
	pl := planReal(t, e, path)
	_, err := e.Build(ctx, pl, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	if ent, _ := e.Store.Get(pl.Part("slow").Key); ent != nil {
		t.Fatal("canceled part stored")
	}
	if tmps, _ := os.ReadDir(filepath.Join(cache, "tmp")); len(tmps) != 0 {
		t.Errorf("leftover temporary entries %v", tmps)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(token)) && !bytes.Contains(b, []byte("-test.")) {
			t.Errorf("process left: %s %q", p, b)
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if bytes.Contains(mi, []byte(cache)) {
		t.Errorf("mounts left under %s", cache)
	}
	var ee *sandbox.ExitError
	if errors.As(err, &ee) && !ee.Canceled {
		t.Errorf("exit error not marked canceled: %v", ee)
	}
	_ = runtime.NumCPU
}
