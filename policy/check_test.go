package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hbuild/hbuild/internal/testutil"
)

// The run-time paths the fixtures pretend to live at.
const (
	partPath = "/opt/hbuild/parts/app"
	depPath  = "/opt/hbuild/parts/dep"
)

// gcc compiles src (C) with args into out, creating its directory.
func gcc(t *testing.T, out, src string, args ...string) {
	t.Helper()
	testutil.RequireTool(t, "gcc")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	srcFile := filepath.Join(t.TempDir(), "src.c")
	if err := os.WriteFile(srcFile, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("gcc", append([]string{"-o", out, srcFile}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, b)
	}
}

const (
	helloC  = "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n"
	xmlC    = "#include <libxml/parser.h>\nint main(void){xmlInitParser();return 0;}\n"
	sslC    = "#include <openssl/ssl.h>\nint main(void){return OPENSSL_init_ssl(0, 0);}\n"
	depLibC = "int dep_answer(void){return 42;}\n"
	useDepC = "int dep_answer(void);\nint main(void){return dep_answer() != 42;}\n"
	// pthread_create is GLIBC_2.34 since libpthread moved into libc.
	threadC = "#include <pthread.h>\nstatic void *f(void *a){return a;}\nint start(void){pthread_t t;return pthread_create(&t,0,f,0);}\n"
)

// buildDep builds a dependency part: lib/libdep.so.1 and a libdep.so link.
func buildDep(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dep")
	gcc(t, filepath.Join(dir, "lib", "libdep.so.1"), depLibC, "-shared", "-fPIC", "-Wl,-soname,libdep.so.1")
	if err := os.Symlink("libdep.so.1", filepath.Join(dir, "lib", "libdep.so")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func hasViolation(r *Report, file, needed, kind string) bool {
	for _, v := range r.Violations {
		if strings.HasSuffix(v.File, file) && (needed == "" || v.Needed == needed) && v.Kind == kind {
			return true
		}
	}
	return false
}

func dump(t *testing.T, r *Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.Text(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestCheckPart(t *testing.T) {
	testutil.RequireTool(t, "gcc")
	dep := buildDep(t)
	depLib := "-L" + filepath.Join(dep, "lib")
	deps := []Tree{{Dir: dep, Path: depPath}}
	type want struct {
		ok        bool
		needed    string // a violation about this library (with kind)
		kind      string
		fixHas    string
		foundFrom string // the first file's need `needed` resolved from
	}
	for _, tc := range []struct {
		name  string
		build func(t *testing.T, part string)
		deps  []Tree
		opts  Options
		want  want
	}{
		{"glibc only", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "bin", "hello"), helloC)
		}, nil, DefaultOptions(), want{ok: true, needed: "libc.so.6", foundFrom: FromBase}},
		{"host libxml2", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "bin", "xml"), xmlC, "-I/usr/include/libxml2", "-lxml2")
		}, nil, DefaultOptions(), want{needed: "libxml2.so.2", kind: KindNotFound, fixHas: "declare a part that provides libxml2.so.2 and add its lib directory to RPATH"}},
		{"host libssl", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "bin", "ssl"), sslC, "-lssl")
		}, nil, DefaultOptions(), want{needed: "libssl.so.3", kind: KindNotFound, fixHas: "libssl.so.3"}},
		{"dependency through RPATH", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "bin", "usedep"), useDepC, depLib, "-ldep", "-Wl,-rpath,"+depPath+"/lib")
		}, deps, DefaultOptions(), want{ok: true, needed: "libdep.so.1", foundFrom: FromDependency}},
		{"dependency through old-style DT_RPATH", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "bin", "usedep"), useDepC, depLib, "-ldep", "-Wl,--disable-new-dtags,-rpath,"+depPath+"/lib")
		}, deps, DefaultOptions(), want{ok: true, needed: "libdep.so.1", foundFrom: FromDependency}},
		{"dependency without RPATH", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "bin", "usedep"), useDepC, depLib, "-ldep")
		}, deps, DefaultOptions(), want{needed: "libdep.so.1", kind: KindNotFound, fixHas: "add its lib directory to RPATH"}},
		{"dependency not declared", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "bin", "usedep"), useDepC, depLib, "-ldep", "-Wl,-rpath,"+depPath+"/lib")
		}, nil, DefaultOptions(), want{needed: "libdep.so.1", kind: KindNotFound}},
		{"RPATH into the host's lib directory", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "bin", "hello"), helloC, "-Wl,-rpath,/usr/lib/x86_64-linux-gnu")
		}, nil, DefaultOptions(), want{kind: KindRPath}},
		{"RPATH into the build directory", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "bin", "hello"), helloC, "-Wl,-rpath,/build/libfoo/.libs")
		}, nil, DefaultOptions(), want{kind: KindRPath}},
		{"$ORIGIN/../lib", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "lib", "libdep.so.1"), depLibC, "-shared", "-fPIC", "-Wl,-soname,libdep.so.1")
			gcc(t, filepath.Join(p, "bin", "usedep"), useDepC, "-L"+filepath.Join(p, "lib"), "-l:libdep.so.1", "-Wl,-rpath,$ORIGIN/../lib")
		}, nil, DefaultOptions(), want{ok: true, needed: "libdep.so.1", foundFrom: FromPart}},
		{"$ORIGIN in DT_NEEDED", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "lib", "libdep.so.1"), depLibC, "-shared", "-fPIC", "-Wl,-soname,$ORIGIN/../lib/libdep.so.1")
			gcc(t, filepath.Join(p, "bin", "usedep"), useDepC, filepath.Join(p, "lib", "libdep.so.1"))
		}, nil, DefaultOptions(), want{ok: true, needed: "$ORIGIN/../lib/libdep.so.1", foundFrom: FromPart}},
		{"${ORIGIN} to a dependency", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "bin", "usedep"), useDepC, depLib, "-ldep", "-Wl,-rpath,${ORIGIN}/../../dep/lib")
		}, deps, DefaultOptions(), want{ok: true, needed: "libdep.so.1", foundFrom: FromDependency}},
		{"GLIBC_2.34 under a 2.28 maximum", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "lib", "libthread.so"), threadC, "-shared", "-fPIC")
		}, nil, Options{MaxGlibc: "2.28"}, want{needed: "libc.so.6", kind: KindMaxGlibc, fixHas: "policy-max-glibc"}},
		{"GLIBC_2.34 under a 2.36 maximum", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "lib", "libthread.so"), threadC, "-shared", "-fPIC")
		}, nil, Options{MaxGlibc: "2.36"}, want{ok: true}},
		{"static binary", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "bin", "static"), helloC, "-static")
		}, nil, Options{MaxGlibc: "2.0"}, want{ok: true}},
		{"allow-libs", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "bin", "xml"), xmlC, "-I/usr/include/libxml2", "-lxml2")
		}, nil, Options{AllowLibs: []string{"libxml2.so.*"}}, want{ok: true, needed: "libxml2.so.2", foundFrom: FromAllowed}},
		{"ignore-paths", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "bin", "hello"), helloC)
			gcc(t, filepath.Join(p, "share", "examples", "xml"), xmlC, "-I/usr/include/libxml2", "-lxml2")
		}, nil, Options{IgnorePaths: []string{"share/examples"}}, want{ok: true}},
		{"warn-only", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "bin", "xml"), xmlC, "-I/usr/include/libxml2", "-lxml2")
		}, nil, Options{WarnOnly: true}, want{ok: true, needed: "libxml2.so.2", kind: KindNotFound}},
		{"symlink out of the tree is not followed", func(t *testing.T, p string) {
			// The part's lib/libxml2.so.2 points at the host's copy: at run
			// time that path is not the host's, so it is missing.
			gcc(t, filepath.Join(p, "bin", "xml"), xmlC, "-I/usr/include/libxml2", "-lxml2", "-Wl,-rpath,"+partPath+"/lib")
			if err := os.Symlink("/usr/lib/x86_64-linux-gnu/libxml2.so.2", filepath.Join(p, "lib", "libxml2.so.2")); err != nil {
				t.Fatal(err)
			}
		}, nil, DefaultOptions(), want{needed: "libxml2.so.2", kind: KindNotFound}},
		{"symlink inside the tree is followed", func(t *testing.T, p string) {
			gcc(t, filepath.Join(p, "lib", "real", "libdep.so.1"), depLibC, "-shared", "-fPIC", "-Wl,-soname,libdep.so.1")
			if err := os.Symlink(partPath+"/lib/real/libdep.so.1", filepath.Join(p, "lib", "libdep.so.1")); err != nil {
				t.Fatal(err)
			}
			gcc(t, filepath.Join(p, "bin", "usedep"), useDepC, "-L"+filepath.Join(p, "lib", "real"), "-l:libdep.so.1", "-Wl,-rpath,"+partPath+"/lib")
		}, nil, DefaultOptions(), want{ok: true, needed: "libdep.so.1", foundFrom: FromPart}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			part := filepath.Join(t.TempDir(), "app")
			if err := os.MkdirAll(filepath.Join(part, "lib"), 0o755); err != nil {
				t.Fatal(err)
			}
			tc.build(t, part)
			r, err := CheckPart(Tree{Dir: part, Path: partPath}, tc.deps, Tree{}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() != tc.want.ok {
				t.Fatalf("OK() = %v, want %v\n%s", r.OK(), tc.want.ok, dump(t, r))
			}
			if len(r.Files) == 0 {
				t.Fatalf("no ELF file found\n%s", dump(t, r))
			}
			if tc.want.kind != "" {
				if !hasViolation(r, "", tc.want.needed, tc.want.kind) {
					t.Fatalf("no %s violation for %q\n%s", tc.want.kind, tc.want.needed, dump(t, r))
				}
				for _, v := range r.Violations {
					if v.Fix == "" || v.Why == "" || !strings.HasPrefix(v.File, partPath+"/") {
						t.Errorf("violation lacks file, why or fix: %+v", v)
					}
				}
			}
			if tc.want.fixHas != "" && !strings.Contains(dump(t, r), tc.want.fixHas) {
				t.Errorf("report does not say %q\n%s", tc.want.fixHas, dump(t, r))
			}
			if tc.want.foundFrom != "" {
				var got []string
				for _, f := range r.Files {
					for _, n := range f.Needed {
						if n.Name == tc.want.needed {
							got = append(got, n.From)
						}
					}
				}
				if len(got) == 0 || got[0] != tc.want.foundFrom {
					t.Errorf("%s found from %v, want %s\n%s", tc.want.needed, got, tc.want.foundFrom, dump(t, r))
				}
			}
		})
	}
}

func TestCheckPartDetails(t *testing.T) {
	testutil.RequireTool(t, "gcc")
	dep := buildDep(t)
	part := t.TempDir()
	gcc(t, filepath.Join(part, "lib", "libown.so.1"), depLibC, "-shared", "-fPIC", "-Wl,-soname,libown.so.1")
	gcc(t, filepath.Join(part, "bin", "prog"), "int dep_answer(void);\nint main(void){return dep_answer();}\n",
		"-L"+filepath.Join(dep, "lib"), "-ldep", "-Wl,-rpath,$ORIGIN/../lib:"+depPath+"/lib")
	gcc(t, filepath.Join(part, "lib", "libthread.so"), threadC, "-shared", "-fPIC")
	if err := os.WriteFile(filepath.Join(part, "README"), []byte("not ELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := CheckPart(Tree{Dir: part, Path: partPath}, []Tree{{Dir: dep, Path: depPath}}, Tree{}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("violations:\n%s", dump(t, r))
	}
	if r.Scanned != 4 || len(r.Files) != 3 {
		t.Fatalf("scanned %d files, %d ELF; want 4 and 3\n%s", r.Scanned, len(r.Files), dump(t, r))
	}
	byPath := map[string]FileReport{}
	for _, f := range r.Files {
		byPath[f.Path] = f
	}
	prog := byPath[partPath+"/bin/prog"]
	if prog.Kind != "pie-executable" || !strings.HasSuffix(prog.Interp, "ld-linux-x86-64.so.2") {
		t.Errorf("prog: kind %q interp %q", prog.Kind, prog.Interp)
	}
	if strings.Join(prog.RunPath, ":") != "$ORIGIN/../lib:"+depPath+"/lib" {
		t.Errorf("prog RUNPATH %q", prog.RunPath)
	}
	var dn *Needed
	for i := range prog.Needed {
		if prog.Needed[i].Name == "libdep.so.1" {
			dn = &prog.Needed[i]
		}
	}
	if dn == nil || dn.Path != depPath+"/lib/libdep.so.1" || dn.Via != "RUNPATH" || dn.Tree != depPath {
		t.Errorf("libdep.so.1 resolved as %+v", dn)
	}
	if v := prog.Versions["GLIBC"]; v != "2.34" {
		t.Errorf("prog needs GLIBC %q, want 2.34 (__libc_start_main)", v)
	}
	if so := byPath[partPath+"/lib/libown.so.1"]; so.Kind != "shared-object" || so.Soname != "libown.so.1" {
		t.Errorf("libown: %+v", so)
	}
	if r.MaxVersions["GLIBC"] != "2.34" {
		t.Errorf("max versions %v", r.MaxVersions)
	}

	var js bytes.Buffer
	if err := r.JSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Files) != 3 || back.Root != partPath || back.Files[0].Needed == nil {
		t.Errorf("JSON round trip lost data: %s", js.String())
	}
}

// TestCheckPartTransitive: a program loads a dependency's library that
// needs a library nobody provides; that is the program's problem too.
func TestCheckPartTransitive(t *testing.T) {
	testutil.RequireTool(t, "gcc")
	dep := filepath.Join(t.TempDir(), "dep")
	gcc(t, filepath.Join(dep, "lib", "libdep.so.1"), "#include <libxml/parser.h>\nint dep_answer(void){xmlInitParser();return 42;}\n",
		"-shared", "-fPIC", "-Wl,-soname,libdep.so.1", "-I/usr/include/libxml2", "-lxml2")
	part := t.TempDir()
	gcc(t, filepath.Join(part, "bin", "usedep"), useDepC, "-L"+filepath.Join(dep, "lib"), "-l:libdep.so.1",
		"-Wl,-rpath,"+depPath+"/lib", "-Wl,--allow-shlib-undefined")
	r, err := CheckPart(Tree{Dir: part, Path: partPath}, []Tree{{Dir: dep, Path: depPath}}, Tree{}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || !hasViolation(r, "/bin/usedep", "libxml2.so.2", KindNotFound) ||
		!strings.Contains(r.Violations[0].Why, "needed by "+depPath+"/lib/libdep.so.1") {
		t.Fatalf("want the dependency's missing libxml2.so.2 reported on usedep\n%s", dump(t, r))
	}
}

func TestCheckPartBrokenELF(t *testing.T) {
	testutil.RequireTool(t, "gcc")
	part := t.TempDir()
	good := filepath.Join(t.TempDir(), "hello")
	gcc(t, good, helloC)
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	garbage := append([]byte("\x7fELF\x02\x01\x01"), bytes.Repeat([]byte{0xff}, 200)...)
	corrupt := append([]byte(nil), b...)
	// Point the program headers past the end of the file.
	copy(corrupt[32:40], []byte{0xf0, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	for name, data := range map[string][]byte{
		"truncated-header": b[:40],
		"truncated-phdrs":  b[:100],
		"truncated-half":   b[:len(b)/2],
		"garbage":          garbage,
		"corrupt-phoff":    corrupt,
		"empty":            nil,
		"magic-only":       []byte("\x7fELF"),
	} {
		if err := os.WriteFile(filepath.Join(part, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r, err := CheckPart(Tree{Dir: part, Path: partPath}, nil, Tree{}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"truncated-header", "truncated-phdrs", "truncated-half", "garbage", "corrupt-phoff", "magic-only"} {
		if !hasViolation(r, "/"+name, "", KindBadELF) {
			t.Errorf("%s: no bad-elf violation\n%s", name, dump(t, r))
		}
	}
	if hasViolation(r, "/empty", "", KindBadELF) {
		t.Errorf("an empty file is not ELF\n%s", dump(t, r))
	}
}

// TestCheckPartDebugFiles: separate debug-info files keep the program
// headers but not the dynamic section; they are not loaded, so not checked.
func TestCheckPartDebugFiles(t *testing.T) {
	testutil.RequireTool(t, "gcc")
	objcopy := testutil.RequireTool(t, "objcopy")
	part := t.TempDir()
	prog := filepath.Join(part, "bin", "hello")
	gcc(t, prog, helloC, "-g")
	dbg := filepath.Join(part, "lib", "debug", ".build-id", "ab", "cdef.debug")
	if err := os.MkdirAll(filepath.Dir(dbg), 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(objcopy, "--only-keep-debug", prog, dbg).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, b)
	}
	e, err := parseFile(dbg)
	if err != nil || !e.DebugOnly {
		t.Fatalf("debug file parsed as %+v, %v", e, err)
	}
	r, err := CheckPart(Tree{Dir: part, Path: partPath}, nil, Tree{}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || len(r.Files) != 1 || r.Scanned != 2 {
		t.Fatalf("want only bin/hello checked\n%s", dump(t, r))
	}
}

func TestCheckPartLibstdcxx(t *testing.T) {
	testutil.RequireTool(t, "g++")
	part := t.TempDir()
	src := filepath.Join(t.TempDir(), "a.cc")
	if err := os.WriteFile(src, []byte("#include <iostream>\nint main(){std::cout << \"hi\" << std::endl;}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(part, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("g++", "-o", filepath.Join(part, "bin", "cc"), src).CombinedOutput(); err != nil {
		t.Fatalf("g++: %v\n%s", err, b)
	}
	tree := Tree{Dir: part, Path: partPath}
	r, err := CheckPart(tree, nil, Tree{}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Files[0].Versions["GLIBCXX"] == "" {
		t.Fatalf("C++ program with default policy:\n%s", dump(t, r))
	}
	opts := DefaultOptions()
	opts.AllowLibstdcxx = false
	if r, err = CheckPart(tree, nil, Tree{}, opts); err != nil {
		t.Fatal(err)
	}
	if r.OK() || !hasViolation(r, "/bin/cc", "libstdc++.so.6", KindNotFound) {
		t.Fatalf("libstdc++ should be refused:\n%s", dump(t, r))
	}
}

// copyFile copies a host file into a fake root.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// glibcRoot lays out a merged-/usr root with the host's glibc, like the
// runtime base: /lib and /lib64 are symlinks into /usr.
func glibcRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	ma := "/usr/lib/x86_64-linux-gnu/"
	for _, lib := range []string{"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2"} {
		copyFile(t, ma+lib, filepath.Join(root, ma, lib))
	}
	if err := os.MkdirAll(filepath.Join(root, "usr/lib64"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"lib":                            "usr/lib",
		"lib64":                          "usr/lib64",
		"usr/lib64/ld-linux-x86-64.so.2": "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCheckRoot(t *testing.T) {
	testutil.RequireTool(t, "gcc")
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/libc.so.6"); err != nil {
		testutil.Require(t, false, "an x86_64 Debian-style host glibc")
	}

	// An hbuild image: glibc base and parts under /opt/hbuild.
	img := glibcRoot(t)
	gcc(t, filepath.Join(img, depPath, "lib", "libdep.so.1"), depLibC, "-shared", "-fPIC", "-Wl,-soname,libdep.so.1")
	gcc(t, filepath.Join(img, partPath, "bin", "usedep"), useDepC, "-L"+filepath.Join(img, depPath, "lib"), "-l:libdep.so.1", "-Wl,-rpath,"+depPath+"/lib")
	r, err := CheckRoot(img, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || len(r.Files) != 5 {
		t.Fatalf("hbuild-style image: OK %v, %d files\n%s", r.OK(), len(r.Files), dump(t, r))
	}
	for _, f := range r.Files {
		if f.Path != partPath+"/bin/usedep" {
			continue
		}
		for _, n := range f.Needed {
			switch n.Name {
			case "libdep.so.1":
				if n.From != FromPart || n.Path != depPath+"/lib/libdep.so.1" {
					t.Errorf("libdep: %+v", n)
				}
			case "libc.so.6":
				if n.From != FromBase || n.Via != "default" {
					t.Errorf("libc: %+v", n)
				}
			}
		}
	}

	// A Debian-style image: a program using libxml2 from the archive.
	deb := glibcRoot(t)
	copyFile(t, "/usr/lib/x86_64-linux-gnu/libxml2.so.2", filepath.Join(deb, "usr/lib/x86_64-linux-gnu/libxml2.so.2"))
	gcc(t, filepath.Join(deb, "usr/bin/xmlprog"), xmlC, "-I/usr/include/libxml2", "-lxml2")
	gcc(t, filepath.Join(deb, "usr/bin/rpathprog"), helloC, "-Wl,-rpath,/usr/local/lib")
	if r, err = CheckRoot(deb, DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	if r.OK() {
		t.Fatalf("Debian-style image passed\n%s", dump(t, r))
	}
	for _, w := range []struct{ file, needed, kind string }{
		{"/usr/bin/xmlprog", "libxml2.so.2", KindHostLibrary},
		{"/usr/lib/x86_64-linux-gnu/libxml2.so.2", "libz.so.1", KindNotFound},
		{"/usr/bin/rpathprog", "", KindRPath},
	} {
		if !hasViolation(r, w.file, w.needed, w.kind) {
			t.Errorf("no %s violation for %s needing %q\n%s", w.kind, w.file, w.needed, dump(t, r))
		}
	}
	if hasViolation(r, "/libc.so.6", "", KindNotFound) || hasViolation(r, "/usr/bin/xmlprog", "libc.so.6", KindHostLibrary) {
		t.Errorf("glibc reported\n%s", dump(t, r))
	}
}

// TestCheckPartRuntimeDir: with a runtime base directory, glibc is looked
// up in it and anything else there is a host library.
func TestCheckPartRuntimeDir(t *testing.T) {
	testutil.RequireTool(t, "gcc")
	base := glibcRoot(t)
	copyFile(t, "/usr/lib/x86_64-linux-gnu/libxml2.so.2", filepath.Join(base, "usr/lib/x86_64-linux-gnu/libxml2.so.2"))
	part := t.TempDir()
	gcc(t, filepath.Join(part, "bin", "hello"), helloC)
	gcc(t, filepath.Join(part, "bin", "xml"), xmlC, "-I/usr/include/libxml2", "-lxml2")
	r, err := CheckPart(Tree{Dir: part, Path: partPath}, nil, Tree{Dir: base}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !hasViolation(r, "/bin/xml", "libxml2.so.2", KindHostLibrary) || hasViolation(r, "/bin/hello", "", "") || len(r.Violations) != 1 {
		t.Fatalf("want only xml's libxml2 as a host library\n%s", dump(t, r))
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prefix  string
		opts    map[string]string
		want    Options
		wantErr bool
	}{
		{"defaults", "policy-", nil, DefaultOptions(), false},
		{"all", "policy-", map[string]string{
			"policy-allow-libs":      "libGL.so.1\n  libEGL.so.*",
			"policy-ignore-paths":    "share/doc *.debug",
			"policy-max-glibc":       "2.28",
			"policy-warn-only":       "yes",
			"policy-allow-libstdcxx": "false",
			"policy-allow-libgcc":    "off",
		}, Options{AllowLibs: []string{"libGL.so.1", "libEGL.so.*"}, IgnorePaths: []string{"share/doc", "*.debug"}, MaxGlibc: "2.28", WarnOnly: true}, false},
		{"section names", "", map[string]string{"max-glibc": "2.17", "warn-only": "true", "policy-max-glibc": "9"},
			Options{MaxGlibc: "2.17", WarnOnly: true, AllowLibstdcxx: true, AllowLibgcc: true}, false},
		{"bad bool", "policy-", map[string]string{"policy-warn-only": "maybe"}, Options{}, true},
		{"bad version", "policy-", map[string]string{"policy-max-glibc": "two"}, Options{}, true},
		{"bad glob", "policy-", map[string]string{"policy-allow-libs": "lib[.so"}, Options{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			get := func(k string) (string, bool) { v, ok := tc.opts[k]; return v, ok }
			var got Options
			var err error
			if tc.prefix == "" {
				got, err = FromSection(get)
			} else {
				got, err = FromOptions(get)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "policy-") && tc.prefix != "" {
					t.Errorf("error does not name the option: %v", err)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	// A part's options extend the section's lists and replace its values.
	global, err := FromSection(func(k string) (string, bool) {
		return map[string]string{"allow-libs": "libGL.so.1", "max-glibc": "2.28"}[k], k == "allow-libs" || k == "max-glibc"
	})
	if err != nil {
		t.Fatal(err)
	}
	part, err := global.Apply("policy-", func(k string) (string, bool) {
		return map[string]string{"policy-allow-libs": "libfoo.so.1", "policy-max-glibc": "2.31"}[k], k == "policy-allow-libs" || k == "policy-max-glibc"
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(part.AllowLibs, " ") != "libGL.so.1 libfoo.so.1" || part.MaxGlibc != "2.31" || len(global.AllowLibs) != 1 {
		t.Errorf("layered: global %+v part %+v", global, part)
	}
}

func TestIgnored(t *testing.T) {
	o := Options{IgnorePaths: []string{"share/doc", "*.debug", "lib/python*/test", "/bin/x"}}
	for rel, want := range map[string]bool{
		"share/doc/a/b":               true,
		"share/docs":                  false,
		"lib/libz.so.1.debug":         true,
		"lib/python3.11/test/mod.so":  true,
		"lib/python3.11/tests/mod.so": false,
		"bin/x":                       true,
		"bin/xy":                      false,
		"usr/bin/x":                   false,
	} {
		if got := o.ignored(rel); got != want {
			t.Errorf("ignored(%q) = %v, want %v", rel, got, want)
		}
	}
}

func TestMaxVersions(t *testing.T) {
	got := MaxVersions([]VersionNeed{
		{File: "libc.so.6", Versions: []string{"GLIBC_2.2.5", "GLIBC_2.34", "GLIBC_2.4", "GLIBC_PRIVATE"}},
		{File: "libstdc++.so.6", Versions: []string{"GLIBCXX_3.4.9", "GLIBCXX_3.4.30", "CXXABI_1.3", "CXXABI_1.3.13"}},
		{File: "libgcc_s.so.1", Versions: []string{"GCC_3.0", "GCC_4.2.0"}},
		{File: "libssl.so.3", Versions: []string{"OPENSSL_3.0.0"}},
	})
	want := map[string]string{"GLIBC": "2.34", "GLIBCXX": "3.4.30", "CXXABI": "1.3.13", "GCC": "4.2.0"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestCheckVersionDefinitions: like ld.so, a library found that lacks a
// version the file needs is refused.
func TestCheckVersionDefinitions(t *testing.T) {
	testutil.RequireTool(t, "gcc")
	tmp := t.TempDir()
	script := func(body string) string {
		p := filepath.Join(tmp, fmt.Sprintf("v%d.map", strings.Count(body, "{")))
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v1 := script("VER_1 { global: dep_answer; local: *; };\n")
	v2 := script("VER_1 { global: dep_answer; local: *; };\nVER_2 { global: dep_new; } VER_1;\n")
	newLib := filepath.Join(tmp, "new", "libver.so.1")
	gcc(t, newLib, depLibC+"int dep_new(void){return 1;}\n", "-shared", "-fPIC", "-Wl,-soname,libver.so.1", "-Wl,--version-script="+v2)
	prog := "int dep_answer(void);\nint dep_new(void);\nint main(void){return dep_answer()+dep_new();}\n"

	for _, tc := range []struct {
		name   string
		script string
		extra  string
		ok     bool
	}{
		{"library defines the version", v2, "int dep_new(void){return 1;}\n", true},
		{"library too old", v1, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			part := t.TempDir()
			gcc(t, filepath.Join(part, "lib", "libver.so.1"), depLibC+tc.extra, "-shared", "-fPIC", "-Wl,-soname,libver.so.1", "-Wl,--version-script="+tc.script)
			gcc(t, filepath.Join(part, "bin", "prog"), prog, "-L"+filepath.Dir(newLib), "-l:libver.so.1", "-Wl,-rpath,$ORIGIN/../lib")
			r, err := CheckPart(Tree{Dir: part, Path: partPath}, nil, Tree{}, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() != tc.ok {
				t.Fatalf("OK() = %v\n%s", r.OK(), dump(t, r))
			}
			if !tc.ok && !hasViolation(r, "/bin/prog", "libver.so.1", KindVersion) {
				t.Fatalf("no version violation\n%s", dump(t, r))
			}
		})
	}

	// The host's glibc defines what this host's programs need.
	libc := "/usr/lib/x86_64-linux-gnu/libc.so.6"
	e, err := parseFile(libc)
	testutil.Require(t, err == nil, "the host's x86_64 libc")
	f, err := os.Open(libc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	defs, err := e.DefinedVersions(f, fi.Size())
	if err != nil || !slices.Contains(defs, "GLIBC_2.34") || !slices.Contains(defs, "GLIBC_2.2.5") || slices.Contains(defs, "libc.so.6") {
		t.Fatalf("libc defines %v (%v)", defs, err)
	}
}

// TestLoaderChain: a library without RPATH of its own finds its needs
// through the DT_RPATH of the program that loads it, but not through a
// DT_RUNPATH (which applies to the program's own needs only), as in ld.so.
func TestLoaderChain(t *testing.T) {
	testutil.RequireTool(t, "gcc")
	const dep2Path = "/opt/hbuild/parts/dep2"
	root := t.TempDir()
	dep, dep2 := filepath.Join(root, "dep"), filepath.Join(root, "dep2")
	gcc(t, filepath.Join(dep2, "lib", "libdep2.so.1"), "int dep2(void){return 0;}\n", "-shared", "-fPIC", "-Wl,-soname,libdep2.so.1")
	gcc(t, filepath.Join(dep, "lib", "libdep.so.1"), "int dep2(void);\nint dep_answer(void){return 42+dep2();}\n",
		"-shared", "-fPIC", "-Wl,-soname,libdep.so.1", "-L"+filepath.Join(dep2, "lib"), "-l:libdep2.so.1")
	deps := []Tree{{Dir: dep, Path: depPath}, {Dir: dep2, Path: dep2Path}}
	for _, tc := range []struct {
		name, dtags string
		ok          bool
	}{
		{"DT_RPATH is inherited", "--disable-new-dtags", true},
		{"DT_RUNPATH is not", "--enable-new-dtags", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			part := t.TempDir()
			gcc(t, filepath.Join(part, "bin", "prog"), useDepC, "-L"+filepath.Join(dep, "lib"), "-l:libdep.so.1",
				"-Wl,-rpath-link,"+filepath.Join(dep2, "lib"), "-Wl,"+tc.dtags+",-rpath,"+depPath+"/lib:"+dep2Path+"/lib")
			r, err := CheckPart(Tree{Dir: part, Path: partPath}, deps, Tree{}, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() != tc.ok {
				t.Fatalf("OK() = %v\n%s", r.OK(), dump(t, r))
			}
			if !tc.ok && (!hasViolation(r, "/bin/prog", "libdep2.so.1", KindNotFound) ||
				!strings.Contains(r.Violations[0].Why, "needed by "+depPath+"/lib/libdep.so.1")) {
				t.Fatalf("want libdep2.so.1 missing for libdep.so.1 reported on prog\n%s", dump(t, r))
			}
		})
	}
}
