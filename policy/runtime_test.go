package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hbuild/hbuild/internal/testutil"
)

// debianBase is glibcRoot with what a Debian root adds around glibc: an
// /etc/ld.so.conf with its include, and an empty /opt.
func debianBase(t *testing.T) string {
	t.Helper()
	base := glibcRoot(t)
	for name, text := range map[string]string{
		"etc/ld.so.conf":                               "include /etc/ld.so.conf.d/*.conf\n",
		"etc/ld.so.conf.d/x86_64-linux-gnu.conf":       "/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n",
		"etc/ld.so.conf.d/libc.conf":                   "/usr/local/lib\n",
		"usr/share/doc/libc6/copyright":                "glibc\n",
		"usr/lib/x86_64-linux-gnu/gconv/gconv-modules": "\n",
	} {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(base, "opt"), 0o755); err != nil {
		t.Fatal(err)
	}
	return base
}

// xmlPart builds a dependency part providing a libxml2.so.2 (a stand-in
// with that soname) and a part whose program needs it through RUNPATH and
// a library of its own through $ORIGIN.
func xmlPart(t *testing.T) (part, dep string) {
	t.Helper()
	dep = filepath.Join(t.TempDir(), "dep")
	gcc(t, filepath.Join(dep, "lib", "libxml2.so.2"), "int xmlInitParser(void){return 0;}\n", "-shared", "-fPIC", "-Wl,-soname,libxml2.so.2")
	if err := os.Symlink("libxml2.so.2", filepath.Join(dep, "lib", "libxml2.so")); err != nil {
		t.Fatal(err)
	}
	part = t.TempDir()
	gcc(t, filepath.Join(part, "lib", "libown.so.1"), depLibC, "-shared", "-fPIC", "-Wl,-soname,libown.so.1")
	gcc(t, filepath.Join(part, "bin", "prog"), "int xmlInitParser(void);\nint dep_answer(void);\nint main(void){return xmlInitParser()+dep_answer();}\n",
		"-L"+filepath.Join(dep, "lib"), "-lxml2", "-L"+filepath.Join(part, "lib"), "-l:libown.so.1",
		"-Wl,-rpath,$ORIGIN/../lib:"+depPath+"/lib")
	return part, dep
}

// TestCheckPartRuntimeAtRoot: with a real glibc base seen at "/", the
// part's and its dependencies' trees, which lie below "/" at run time,
// are still where their libraries are found; the base gives glibc only.
// (Regression: every run-time path was looked up in the base, since "/"
// is a prefix of all of them, and libxml2.so.2 of a dependency was
// reported missing.)
func TestCheckPartRuntimeAtRoot(t *testing.T) {
	testutil.RequireTool(t, "gcc")
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/libc.so.6"); err != nil {
		testutil.Require(t, false, "an x86_64 Debian-style host glibc")
	}
	part, dep := xmlPart(t)
	deps := []Tree{{Dir: dep, Path: depPath}}

	for _, tc := range []struct {
		name string
		base func(t *testing.T) string
	}{
		{"base without /opt", glibcRoot},
		{"Debian-style base", debianBase},
		{"base with its own file at the dependency's path", func(t *testing.T) string {
			// The dependency's tree hides what the base has there.
			base := debianBase(t)
			p := filepath.Join(base, depPath, "lib", "libxml2.so.2")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("not ELF"), 0o644); err != nil {
				t.Fatal(err)
			}
			return base
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.base(t)
			for _, rt := range []Tree{{Dir: base, Path: "/"}, {Dir: base}} {
				r, err := CheckPart(Tree{Dir: part, Path: partPath}, deps, rt, DefaultOptions())
				if err != nil {
					t.Fatal(err)
				}
				if !r.OK() || len(r.Files) != 2 {
					t.Fatalf("runtime %+v: OK %v, %d files\n%s", rt, r.OK(), len(r.Files), dump(t, r))
				}
				var prog *FileReport
				for i := range r.Files {
					if r.Files[i].Path == partPath+"/bin/prog" {
						prog = &r.Files[i]
					}
				}
				if prog == nil {
					t.Fatalf("no report for prog\n%s", dump(t, r))
				}
				got := map[string]Needed{}
				for _, n := range prog.Needed {
					got[n.Name] = n
				}
				if n := got["libxml2.so.2"]; n.From != FromDependency || n.Path != depPath+"/lib/libxml2.so.2" || n.Tree != depPath || n.Via != "RUNPATH" {
					t.Errorf("libxml2.so.2 resolved as %+v\n%s", n, dump(t, r))
				}
				if n := got["libown.so.1"]; n.From != FromPart || n.Path != partPath+"/lib/libown.so.1" || n.Tree != partPath {
					t.Errorf("libown.so.1 resolved as %+v\n%s", n, dump(t, r))
				}
				if n := got["libc.so.6"]; n.From != FromBase || n.Via != "default" || !strings.HasSuffix(n.Path, "/x86_64-linux-gnu/libc.so.6") {
					t.Errorf("libc.so.6 resolved as %+v\n%s", n, dump(t, r))
				}
			}
		})
	}
}

// TestCheckPartRuntimeAtRootGlibcVersions: with a real base, MaxGlibc
// still applies, and the base's libc decides which versions exist.
func TestCheckPartRuntimeAtRootGlibcVersions(t *testing.T) {
	testutil.RequireTool(t, "gcc")
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/libc.so.6"); err != nil {
		testutil.Require(t, false, "an x86_64 Debian-style host glibc")
	}
	part, dep := xmlPart(t)
	deps := []Tree{{Dir: dep, Path: depPath}}
	base := debianBase(t)
	rt := Tree{Dir: base, Path: "/"}

	// prog needs GLIBC_2.34 (__libc_start_main), which the host's libc
	// in the base defines.
	for _, tc := range []struct {
		max string
		ok  bool
	}{{"", true}, {"2.34", true}, {"2.17", false}} {
		opts := DefaultOptions()
		opts.MaxGlibc = tc.max
		r, err := CheckPart(Tree{Dir: part, Path: partPath}, deps, rt, opts)
		if err != nil {
			t.Fatal(err)
		}
		if r.OK() != tc.ok || !tc.ok && (!hasViolation(r, "/bin/prog", "libc.so.6", KindMaxGlibc) || len(r.Violations) != 1) {
			t.Fatalf("max-glibc %q: OK %v, want %v\n%s", tc.max, r.OK(), tc.ok, dump(t, r))
		}
		if r.MaxVersions["GLIBC"] != "2.34" {
			t.Errorf("max versions %v", r.MaxVersions)
		}
	}

	// A base whose libc.so.6 defines only GLIBC_2.2.5: prog, built
	// against a newer glibc, cannot run there.
	old := t.TempDir()
	script := filepath.Join(old, "libc.map")
	if err := os.WriteFile(script, []byte("GLIBC_2.2.5 { global: *; };\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gcc(t, filepath.Join(base, "usr/lib/x86_64-linux-gnu/libc.so.6.old"), "int old_libc(void){return 0;}\n",
		"-shared", "-fPIC", "-nostdlib", "-Wl,-soname,libc.so.6", "-Wl,--version-script="+script)
	if err := os.Rename(filepath.Join(base, "usr/lib/x86_64-linux-gnu/libc.so.6.old"), filepath.Join(base, "usr/lib/x86_64-linux-gnu/libc.so.6")); err != nil {
		t.Fatal(err)
	}
	r, err := CheckPart(Tree{Dir: part, Path: partPath}, deps, rt, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || !hasViolation(r, "/bin/prog", "libc.so.6", KindVersion) || !strings.Contains(dump(t, r), "GLIBC_2.34") {
		t.Fatalf("want GLIBC_2.34 refused by the base's libc\n%s", dump(t, r))
	}
}

// TestViewMostSpecificTree: a run-time path is in the tree with the
// longest Path holding it, the directories above a tree exist in the view
// whatever the enclosing tree has there, and links cross trees.
func TestViewMostSpecificTree(t *testing.T) {
	tmp := t.TempDir()
	base, dep, sub, deep := filepath.Join(tmp, "base"), filepath.Join(tmp, "dep"), filepath.Join(tmp, "sub"), filepath.Join(tmp, "deep")
	write := func(p, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(base, "usr/lib/x86_64-linux-gnu/libc.so.6"), "base libc")
	write(filepath.Join(base, "usr/lib/libfoo.so.1"), "base foo")
	link("usr/lib", filepath.Join(base, "lib"))
	// The base's own files where trees are seen: hidden by the trees.
	write(filepath.Join(base, "opt/hbuild/parts/dep/lib/libdep.so.1"), "base's stale copy")
	link("/nowhere", filepath.Join(base, "opt/hbuild/parts/dep/sub"))
	write(filepath.Join(dep, "lib/libdep.so.1"), "dep")
	link("/lib/x86_64-linux-gnu/libc.so.6", filepath.Join(dep, "lib/libc-link.so"))
	write(filepath.Join(sub, "lib/libsub.so.1"), "sub")
	write(filepath.Join(deep, "libdeep.so.1"), "deep")

	v := newView([]mount{
		{path: "/", dir: base},
		{path: "/opt/hbuild/parts/dep", dir: dep},
		{path: "/opt/hbuild/parts/dep/sub", dir: sub},
		{path: "/usr/lib/hbuild/deep", dir: deep},
	})
	for p, want := range map[string]string{
		"/opt/hbuild/parts/dep/lib/libdep.so.1":        filepath.Join(dep, "lib/libdep.so.1"),
		"/opt/hbuild/parts/dep/sub/lib/libsub.so.1":    filepath.Join(sub, "lib/libsub.so.1"),
		"/opt/hbuild/parts/dep/lib/libc-link.so":       filepath.Join(base, "usr/lib/x86_64-linux-gnu/libc.so.6"),
		"/lib/x86_64-linux-gnu/libc.so.6":              filepath.Join(base, "usr/lib/x86_64-linux-gnu/libc.so.6"),
		"/usr/lib/hbuild/deep/libdeep.so.1":            filepath.Join(deep, "libdeep.so.1"),
		"/opt/hbuild/parts/dep/../dep/lib/libdep.so.1": filepath.Join(dep, "lib/libdep.so.1"),
	} {
		l, err := v.resolve(p)
		if err != nil || l.host != want || !l.mode.IsRegular() {
			t.Errorf("resolve(%s) = %+v, %v; want %s", p, l, err, want)
		}
	}
	if l, err := v.resolve("/opt/hbuild/parts"); err != nil || !l.mode.IsDir() {
		t.Errorf("resolve(/opt/hbuild/parts) = %+v, %v; want a directory", l, err)
	}
	if _, err := v.resolve("/opt/hbuild/parts/other/lib/libdep.so.1"); err == nil {
		t.Errorf("a path under no tree but the base's missing /opt/hbuild/parts/other resolved")
	}
	// /usr/lib is above a tree and in the base: the base's files are there.
	if !v.has("/usr/lib", "libfoo.so.1") || !v.has("/lib", "libfoo.so.1") || v.has("/opt/hbuild/parts/dep/lib", "libfoo.so.1") {
		t.Errorf("has: base files beside a tree's mount point are not listed right")
	}
	if !v.has("/opt/hbuild/parts/dep/lib", "libdep.so.1") || !v.has("/usr/lib/hbuild/deep", "libdeep.so.1") {
		t.Errorf("has: a tree's files are not listed")
	}
}
