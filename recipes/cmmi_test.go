package recipes

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const loc = "/b/parts/foo"

func testCtx() *Context {
	return &Context{
		Part: "foo", Location: loc, Directory: "/b", BaseDir: "/profiles/foo",
		Env: map[string]string{"PATH": "/usr/bin:/bin", "HOME": "/build"},
		Section: func(name string) (map[string]string, error) {
			if name == "envsec" {
				return map[string]string{"CC": "gcc -O2", "PATH": "/x:%(PATH)s", "_profile_base_location_": "/p"}, nil
			}
			return nil, os.ErrNotExist
		},
	}
}

func steps(b *Build) map[string]string {
	m := map[string]string{}
	for _, s := range b.Steps {
		m[s.Name] = s.Script
	}
	return m
}

func stepNames(b *Build) []string {
	var n []string
	for _, s := range b.Steps {
		n = append(n, s.Name)
	}
	return n
}

// The exact command lines of the cmmi spec §4.3.
func TestCMMICommands(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		opts                     map[string]string
		configure, make, install string
	}{
		{"default", nil, `./configure --prefix="/b/parts/foo"`, "make ", "make  install"},
		{"configure-options", map[string]string{"configure-options": "--disable-static\n  --enable-x\n--with-z=%(location)s/z"},
			`./configure --prefix="/b/parts/foo" --disable-static --enable-x --with-z=/b/parts/foo/z`, "make ", "make  install"},
		{"own prefix", map[string]string{"configure-options": "--prefix=/opt/x --enable-y"}, `./configure --prefix=/opt/x --enable-y`, "make ", "make  install"},
		{"configure-command", map[string]string{"configure-command": "./Configure"}, "./Configure ", "make ", `make  install prefix="/b/parts/foo"`},
		{"cmake", map[string]string{"configure-command": "cmake", "configure-options": "-DCMAKE_INSTALL_PREFIX=%(prefix)s ."},
			"cmake -DCMAKE_INSTALL_PREFIX=/b/parts/foo .", "make ", `make  install prefix="/b/parts/foo"`},
		{"empty make-binary", map[string]string{"configure-command": ":", "make-binary": "", "make-targets": "cd src &&\nunset GOBIN &&\n./all.bash &&\ncp -alf .. /b/parts/go"},
			": ", " ", "  cd src && unset GOBIN && ./all.bash && cp -alf .. /b/parts/go"},
		{"make-options and targets", map[string]string{"make-options": "-j4\nV=1", "make-targets": "install\ninstall-lib"},
			`./configure --prefix="/b/parts/foo"`, "make -j4 V=1", "make -j4 V=1 install install-lib"},
		{"true", map[string]string{"configure-command": "true", "make-options": "TARGET=linux26\nCPU=i686"},
			"true ", "make TARGET=linux26 CPU=i686", `make TARGET=linux26 CPU=i686 install prefix="/b/parts/foo"`},
		{"quotes collapse", map[string]string{"configure-options": `CFLAGS="-O2   -g"`}, `./configure --prefix="/b/parts/foo" CFLAGS="-O2 -g"`, "make ", "make  install"},
		{"make-binary gmake", map[string]string{"configure-command": "true", "make-binary": "gmake"}, "true ", "gmake ", "gmake  install"},
		{"explicit prefix", map[string]string{"prefix": "@@LOCATION@@/usr"}, `./configure --prefix="/b/parts/foo/usr"`, "make ", "make  install"},
		{"location placeholder", map[string]string{"configure-options": "--with-x=@@LOCATION@@/x"}, `./configure --prefix="/b/parts/foo" --with-x=/b/parts/foo/x`, "make ", "make  install"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := map[string]string{"url": "https://example.invalid/foo-1.0.tar.gz", "md5sum": "0123456789abcdef0123456789abcdef"}
			for k, v := range tc.opts {
				opts[k] = v
			}
			b, err := prepareCMMI(testCtx(), opts)
			if err != nil {
				t.Fatal(err)
			}
			s := steps(b)
			// a blank command is no step at all
			if s["configure"] != tc.configure || s["make"] != strings.TrimSpace(tc.make) && s["make"] != tc.make || s["install"] != tc.install {
				t.Errorf("got\n configure %q\n make %q\n install %q\nwant\n configure %q\n make %q\n install %q",
					s["configure"], s["make"], s["install"], tc.configure, tc.make, tc.install)
			}
		})
	}
}

func TestCMMISourcesAndSteps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  map[string]string
		check func(t *testing.T, b *Build)
	}{
		{"url with md5", map[string]string{"url": "https://example.invalid/a.tar.gz", "md5sum": "0123456789ABCDEF0123456789abcdef"}, func(t *testing.T, b *Build) {
			want := Source{Option: "url", URL: "https://example.invalid/a.tar.gz", Sums: []Checksum{{"md5", "0123456789abcdef0123456789abcdef"}}, Dest: SourceDir, Unpack: true, Strip: StripFalse}
			if !reflect.DeepEqual(b.Sources[0], want) {
				t.Errorf("source %+v, want %+v", b.Sources[0], want)
			}
			if !reflect.DeepEqual(stepNames(b), []string{"configure", "make", "install"}) {
				t.Errorf("steps %v", stepNames(b))
			}
			if !b.FixShebangs || b.KeepCompileDir {
				t.Errorf("FixShebangs %v KeepCompileDir %v", b.FixShebangs, b.KeepCompileDir)
			}
		}},
		{"sha256 and sha512", map[string]string{"url": "a.tar.gz", "sha256": strings.Repeat("ab", 32), "sha512": strings.Repeat("cd", 64)}, func(t *testing.T, b *Build) {
			s := b.Sources[0]
			if s.URL != "/profiles/foo/a.tar.gz" {
				t.Errorf("relative url not made absolute: %q", s.URL)
			}
			if len(s.Sums) != 2 || s.Sums[0].Algo != "sha256" || s.Sums[1].Algo != "sha512" {
				t.Errorf("sums %+v", s.Sums)
			}
		}},
		{"path", map[string]string{"path": "/src/foo"}, func(t *testing.T, b *Build) {
			if b.Sources[0].Option != "path" || b.Sources[0].URL != "/src/foo" || !b.Sources[0].Unpack {
				t.Errorf("source %+v", b.Sources[0])
			}
		}},
		{"debian-source", map[string]string{"debian-source": "zlib 1:1.2.13.dfsg-1"}, func(t *testing.T, b *Build) {
			if d := b.Sources[0].Debian; d == nil || d.Name != "zlib" || d.Version != "1:1.2.13.dfsg-1" {
				t.Errorf("debian %+v", d)
			}
		}},
		{"strip-top-level-dir", map[string]string{"url": "/a.tgz", "strip-top-level-dir": "true"}, func(t *testing.T, b *Build) {
			if b.Sources[0].Strip != StripTrue {
				t.Errorf("strip %q", b.Sources[0].Strip)
			}
		}},
		{"shell snippets in order", map[string]string{"url": "/a.tgz",
			"pre-configure": "echo pc > %(location)s/pc\n  echo 50%%", "pre-build": "echo pb", "pre-install": "echo pi", "post-install": "test -d @@LOCATION@@/bin"}, func(t *testing.T, b *Build) {
			if !reflect.DeepEqual(stepNames(b), []string{"pre-configure", "configure", "pre-build", "make", "pre-install", "install", "post-install"}) {
				t.Errorf("steps %v", stepNames(b))
			}
			s := steps(b)
			if s["pre-configure"] != "echo pc > /b/parts/foo/pc\n  echo 50%" || s["post-install"] != "test -d /b/parts/foo/bin" {
				t.Errorf("snippets %q %q", s["pre-configure"], s["post-install"])
			}
		}},
		{"patches", map[string]string{"url": "/a.tgz", "patches": "a.patch#0123456789abcdef0123456789abcdef\n/x/b.diff", "patch-options": "-p1"}, func(t *testing.T, b *Build) {
			if len(b.Sources) != 3 {
				t.Fatalf("sources %+v", b.Sources)
			}
			p := b.Sources[1]
			if p.URL != "/profiles/foo/a.patch" || p.Unpack || p.Dest != PatchesDir+"/00-a.patch" || len(p.Sums) != 1 || p.Sums[0].Algo != "md5" {
				t.Errorf("patch source %+v", p)
			}
			if b.Sources[2].Dest != PatchesDir+"/01-b.diff" || b.Sources[2].Sums != nil {
				t.Errorf("patch source %+v", b.Sources[2])
			}
			if stepNames(b)[0] != "patch" || steps(b)["patch"] != "patch -p1 < "+PatchesDir+"/00-a.patch\npatch -p1 < "+PatchesDir+"/01-b.diff\n" {
				t.Errorf("patch step %q", steps(b)["patch"])
			}
		}},
		{"patch-binary and default options", map[string]string{"url": "/a.tgz", "patches": "/x.patch", "patch-binary": "gpatch"}, func(t *testing.T, b *Build) {
			if steps(b)["patch"] != "gpatch -p0 < "+PatchesDir+"/00-x.patch\n" {
				t.Errorf("patch step %q", steps(b)["patch"])
			}
		}},
		{"environment", map[string]string{"url": "/a.tgz", "environment": "PATH=/x/bin:%(PATH)s\nCFLAGS = -O2\nPREFIX=@@LOCATION@@"}, func(t *testing.T, b *Build) {
			want := []string{"CFLAGS=-O2", "PATH=/x/bin:/usr/bin:/bin", "PREFIX=/b/parts/foo"}
			if !reflect.DeepEqual(b.Env, want) {
				t.Errorf("env %q, want %q", b.Env, want)
			}
		}},
		{"environment section", map[string]string{"url": "/a.tgz", "environment": "envsec"}, func(t *testing.T, b *Build) {
			want := []string{"CC=gcc -O2", "PATH=/x:/usr/bin:/bin"}
			if !reflect.DeepEqual(b.Env, want) {
				t.Errorf("env %q, want %q", b.Env, want)
			}
		}},
		{"environment-section plus environment", map[string]string{"url": "/a.tgz", "environment-section": "envsec", "environment": "CC=clang"}, func(t *testing.T, b *Build) {
			want := []string{"CC=clang", "PATH=/x:/usr/bin:/bin"}
			if !reflect.DeepEqual(b.Env, want) {
				t.Errorf("env %q, want %q", b.Env, want)
			}
		}},
		{"promises and keep-compile-dir", map[string]string{"url": "/a.tgz", "promises": "\n/b/parts/foo/bin/x\n  /b/parts/foo/lib/y.so \n", "keep-compile-dir": "TRUE"}, func(t *testing.T, b *Build) {
			if !reflect.DeepEqual(b.Promises, []string{"/b/parts/foo/bin/x", "/b/parts/foo/lib/y.so"}) || !b.KeepCompileDir {
				t.Errorf("promises %q keep %v", b.Promises, b.KeepCompileDir)
			}
		}},
		{"shared accepted any case", map[string]string{"url": "/a.tgz", "shared": "True"}, func(t *testing.T, b *Build) {}},
		{"location placeholder", map[string]string{"url": "/a.tgz", "location": "@@LOCATION@@"}, func(t *testing.T, b *Build) {}},
		{"location exact", map[string]string{"url": "/a.tgz", "location": loc}, func(t *testing.T, b *Build) {}},
		{"env script", map[string]string{"url": "/a.tgz", "environment": "TMPDIR=/t\nA=it's"}, func(t *testing.T, b *Build) {
			f := b.Files[0]
			if f.Path != "/build/"+EnvScript || !strings.Contains(string(f.Content), "#export TMPDIR=/t\n") || !strings.Contains(string(f.Content), `export A='it'\''s'`) {
				t.Errorf("env script %s: %s", f.Path, f.Content)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := prepareCMMI(testCtx(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, b)
		})
	}
}

func TestCMMIErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts map[string]string
		want string
	}{
		{"url and path", map[string]string{"url": "/a", "path": "/b"}, "not several"},
		{"neither", map[string]string{}, `you must provide either "url"`},
		{"bad location", map[string]string{"url": "/a", "location": "/elsewhere"}, "invalid 'location' value"},
		{"bad percent", map[string]string{"url": "/a", "post-install": "echo 50%"}, "foo:post-install: bad % sequence"},
		{"missing variable", map[string]string{"url": "/a", "configure-options": "--x=%(nope)s"}, "foo:configure-options: %(nope)s: no such variable"},
		{"env chaining", map[string]string{"url": "/a", "environment": "A=1\nB=%(A)s"}, "foo:environment: B: %(A)s: no such variable"},
		{"env duplicate", map[string]string{"url": "/a", "environment": "A=1\nA=2"}, `key "A" is repeated`},
		{"env bad line", map[string]string{"url": "/a", "environment": "A=1\nnoequals"}, `line "noequals" in environment is incorrect`},
		{"shared yes", map[string]string{"url": "/a", "shared": "yes"}, "foo:shared: \"yes\" is not a boolean"},
		{"shared prefix outside", map[string]string{"url": "/a", "shared": "true", "prefix": "/usr/local"}, "when shared=true, 'prefix' can't be outside location"},
		{"pre-configure-hook", map[string]string{"url": "/a", "pre-configure-hook": "/p/hook.py#0123:fn"}, `foo:pre-configure-hook: Python hooks ("/p/hook.py#0123:fn") cannot run in hbuild's sandbox; write the hook as a shell snippet in "pre-configure"`},
		{"pre-make-hook", map[string]string{"url": "/a", "pre-make-hook": "h.py:f"}, `in "pre-build"`},
		{"post-make-hook", map[string]string{"url": "/a", "post-make-hook": "h.py:f"}, `in "post-install"`},
		{"bad md5", map[string]string{"url": "/a", "md5sum": "xyz"}, "foo:md5sum: \"xyz\" is not a md5 checksum"},
		{"bad patch hash", map[string]string{"url": "/a", "patches": "a.patch#12"}, "foo:patches"},
		{"bad debian-source", map[string]string{"debian-source": "zlib"}, "write NAME VERSION"},
		{"environment-section inline", map[string]string{"url": "/a", "environment-section": "A=1"}, "names a section"},
		{"environment section missing", map[string]string{"url": "/a", "environment": "nosuch"}, `read environment section "nosuch"`},
		{"dependencies", map[string]string{"url": "/a", "dependencies": "zlib"}, "was removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := prepareCMMI(testCtx(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPyFormat(t *testing.T) {
	vars := map[string]string{"a": "1", "location": "/x"}
	for in, want := range map[string]string{"": "", "plain": "plain", "%(a)s%(location)s": "1/x", "100%%": "100%", "%%(a)s": "%(a)s"} {
		got, err := PyFormat(in, vars)
		if err != nil || got != want {
			t.Errorf("PyFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"50%", "%s", "%(a)d", "%(a", "%(zz)s"} {
		if _, err := PyFormat(in, vars); err == nil {
			t.Errorf("PyFormat(%q) succeeded", in)
		}
	}
}

func TestLookup(t *testing.T) {
	for name, want := range map[string]string{
		"cmmi": "cmmi", "slapos.recipe.cmmi": "cmmi", "hexagonit.recipe.cmmi": "cmmi", "zc.recipe.cmmi": "cmmi",
		"slapos.recipe.build:download": "download", "slapos.recipe.build:download-unpacked": "download-unpacked",
		"hexagonit.recipe.download": "download-unpacked", "build": "build", "template": "template",
		"oci-image": "oci-image", "debian-rootfs": "debian-rootfs", "slapos.recipe.cmmi:default": "cmmi",
	} {
		r, err := Lookup(name)
		if err != nil || r.Name != want {
			t.Errorf("Lookup(%q) = %v, %v; want %s", name, r, err, want)
		}
	}
	_, err := Lookup("plone.recipe.zope2instance")
	if err == nil || !strings.Contains(err.Error(), "unknown recipe") || !strings.Contains(err.Error(), "cmmi") || !strings.Contains(err.Error(), "oci-image") {
		t.Fatalf("error %v", err)
	}
}

func TestDownload(t *testing.T) {
	ctx := testCtx()
	b, err := prepareDownload(ctx, map[string]string{"url": "https://h.invalid/f.txt", "md5sum": strings.Repeat("a", 32), "alternate-url": "https://m.invalid/f.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if s := b.Sources[0]; s.Dest != loc+"/foo" || s.Unpack || !reflect.DeepEqual(s.Alternates, []string{"https://m.invalid/f.txt"}) {
		t.Errorf("source %+v", s)
	}
	b, err = prepareDownload(ctx, map[string]string{"url": "/f.txt", "filename": "sub/x.txt"})
	if err != nil || b.Sources[0].Dest != loc+"/x.txt" {
		t.Errorf("filename: %+v %v", b, err)
	}
	b, err = prepareDownload(ctx, map[string]string{"url": "/f.txt", "destination": "@@LOCATION@@/etc/f"})
	if err != nil || b.Sources[0].Dest != loc+"/etc/f" {
		t.Errorf("destination: %+v %v", b, err)
	}
	for opts, want := range map[*map[string]string]string{
		{"url": "/f", "destination": "/etc/f"}: "outside the part's location",
		{"url": "/f", "mode": "0644"}:          "option 'mode' not supported",
		{"url": "/f", "shared": "true"}:        "md5sum: required with shared = true",
		{"md5sum": strings.Repeat("a", 32)}:    "url: missing",
		{"url": "/f", "location": "/x"}:        "invalid 'location' value",
	} {
		if _, err := prepareDownload(ctx, *opts); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want %q", *opts, err, want)
		}
	}
	b, err = prepareDownloadUnpacked(ctx, map[string]string{"url": "/a.tar.gz", "strip-top-level-dir": "false"})
	if err != nil || b.Sources[0].Dest != loc || !b.Sources[0].Unpack || b.Sources[0].Strip != StripFalse {
		t.Errorf("download-unpacked %+v %v", b, err)
	}
	b, err = prepareDownloadUnpacked(ctx, map[string]string{"url": "/a.tar.gz", "download-only": "true"})
	if err != nil || b.Sources[0].Dest != loc+"/a.tar.gz" || b.Sources[0].Unpack {
		t.Errorf("download-only %+v %v", b, err)
	}
}

func TestShellRecipe(t *testing.T) {
	b, err := prepareShell(testCtx(), map[string]string{"script": "cp x @@LOCATION@@/\necho $configure_options", "configure-options": "a b", "_profile_base_location_": "/p"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Steps[0].Script != "cp x /b/parts/foo/\necho $configure_options" || b.WorkDir != BuildDir {
		t.Errorf("build %+v", b)
	}
	if !reflect.DeepEqual(b.Env, []string{"configure_options=a b", "location=" + loc}) {
		t.Errorf("env %q", b.Env)
	}
	if _, err := prepareShell(testCtx(), map[string]string{"install": "import os"}); err == nil || !strings.Contains(err.Error(), "inline Python") {
		t.Errorf("python: %v", err)
	}
	if _, err := prepareShell(testCtx(), map[string]string{}); err == nil || !strings.Contains(err.Error(), "script: missing") {
		t.Errorf("no script: %v", err)
	}
}

func TestTemplate(t *testing.T) {
	dir := t.TempDir()
	tpl := filepath.Join(dir, "t.in")
	if err := os.WriteFile(tpl, []byte("home=${:location} cc=${envsec:CC} lit=$${x:y}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx()
	ctx.Read = func(u string, _ []Checksum) ([]byte, error) { return os.ReadFile(u) }
	b, err := prepareTemplate(ctx, map[string]string{"url": tpl, "output": "etc/conf", "mode": "0600", "location": loc})
	if err != nil {
		t.Fatal(err)
	}
	want := File{Path: loc + "/etc/conf", Content: []byte("home=/b/parts/foo cc=gcc -O2 lit=${x:y}\n"), Mode: 0o600}
	if !reflect.DeepEqual(b.Files[0], want) {
		t.Errorf("file %+v\nwant %+v", b.Files[0], want)
	}
	b, err = prepareTemplate(ctx, map[string]string{"inline": "\nhello\n", "output": loc + "/x"})
	if err != nil || string(b.Files[0].Content) != "hello\n" || b.Files[0].Mode != 0o644 {
		t.Errorf("inline %+v %v", b, err)
	}
	if _, err := prepareTemplate(ctx, map[string]string{"inline": "x", "output": "/etc/x"}); err == nil || !strings.Contains(err.Error(), "not inside the part's location") {
		t.Errorf("outside: %v", err)
	}
	if _, err := prepareTemplate(ctx, map[string]string{"url": tpl}); err == nil || !strings.Contains(err.Error(), "output: missing") {
		t.Errorf("no output: %v", err)
	}
}

func TestImageRecipe(t *testing.T) {
	b, err := prepareImage(testCtx(), map[string]string{
		"parts": "libxslt\nlibxml2", "entrypoint": `["xsltproc"]`, "cmd": `--version "a b"`, "env": "A=1\nB=2",
		"workdir": "/w", "user": "1000", "labels": "org.x=1", "annotations": "k v", "platform": "linux/amd64", "output": "oci-layout:/tmp/o",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &Image{Parts: []string{"libxslt", "libxml2"}, Base: "glibc", Entrypoint: []string{"xsltproc"}, Cmd: []string{"--version", "a b"},
		Env: []string{"A=1", "B=2"}, WorkDir: "/w", User: "1000", Labels: map[string]string{"org.x": "1"}, Annotations: map[string]string{"k": "v", "org.opencontainers.image.title": "foo"},
		Platform: "linux/amd64", Outputs: []string{"oci-layout:/tmp/o"}}
	if !reflect.DeepEqual(b.Image, want) || !reflect.DeepEqual(b.Deps, want.Parts) {
		t.Errorf("image %+v\nwant %+v", b.Image, want)
	}
	if _, err := prepareImage(testCtx(), map[string]string{}); err == nil {
		t.Error("no parts accepted")
	}
	// OCI annotations from options; an explicit annotation line wins.
	b, err = prepareImage(testCtx(), map[string]string{"parts": "a", "version": "1.1.35", "licenses": "MIT", "revision": "abc123",
		"source": "https://example.org/x.git", "title": "not used", "annotations": "org.opencontainers.image.title=xml"})
	if err != nil {
		t.Fatal(err)
	}
	wantAnn := map[string]string{"org.opencontainers.image.version": "1.1.35", "org.opencontainers.image.licenses": "MIT",
		"org.opencontainers.image.revision": "abc123", "org.opencontainers.image.source": "https://example.org/x.git",
		"org.opencontainers.image.title": "xml"}
	if !reflect.DeepEqual(b.Image.Annotations, wantAnn) {
		t.Errorf("annotations %v\nwant %v", b.Image.Annotations, wantAnn)
	}
	if _, err := prepareImage(testCtx(), map[string]string{"parts": "a", "cmd": `"x`}); err == nil {
		t.Error("bad quoting accepted")
	}
}
