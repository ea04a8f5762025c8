package engine

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hbuild/hbuild/image"
	"github.com/hbuild/hbuild/policy"
)

// TestExampleLxml builds examples/lxml (issue 9): CPython from its upstream
// tarball, lxml against the part-built libxml2 and libxslt, a scripts part
// with an interpreter, and the image. In the image, lxml reports the
// versions of the part-built libraries; etree's shared object needs only
// glibc and those parts. The same profile without libxml2 fails at lxml's
// build, naming the library; a scripts part installs an sdist and a wheel
// from find-links, pinned, and their console scripts run.
func TestExampleLxml(t *testing.T) {
	profilePath, err := filepath.Abs("../examples/lxml/hbuild.cfg")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cacheDir := t.TempDir()
	e, _ := realEngine(t, cacheDir, Options{})
	pl := planReal(t, e, profilePath)
	res, err := e.Build(ctx, pl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Built, " "); got != "libxml2 libxslt lxml-python python scripts zlib" || len(res.Images) != 1 {
		t.Fatalf("built %q, images %+v", got, res.Images)
	}
	// The same digest on every machine: CPython, lxml and the scripts
	// part are bit-identical wherever they are built.
	if got, want := res.Images[0].Digest, golden(t, "lxml"); got != want {
		t.Errorf("image digest %s, golden %s (scripts/update-golden.sh lxml, when a change is meant)", got, want)
	}
	img, err := e.Image(ctx, pl, pl.Part("lxml"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("changing lxml-python's options rebuilds only it and its dependents", func(t *testing.T) {
		pl2 := planReal(t, e, profilePath, "lxml-python:define=CHANGED")
		for _, p := range pl.Parts {
			same := pl2.Part(p.Name).Key == p.Key
			switch p.Name {
			case "lxml-python", "scripts", "lxml":
				if same {
					t.Errorf("%s keeps its key", p.Name)
				}
			default:
				if !same {
					t.Errorf("%s changes its key", p.Name)
				}
			}
		}
	})

	t.Run("lxml uses the part-built libxml2 and libxslt", func(t *testing.T) {
		var out bytes.Buffer
		args := []string{"python3", "-c", "import lxml.etree as e; print(e.LIBXML_VERSION, e.LIBXSLT_VERSION)"}
		if _, err := e.RunLoaded(ctx, img, RunOptions{Args: args, Stdout: &out, Stderr: &out}); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		// The versions of the parts (Debian's libxml2 2.9.14 and libxslt
		// 1.1.35 sources), read from the libraries lxml loaded.
		if got := strings.TrimSpace(out.String()); got != "(2, 9, 14) (1, 1, 35)" {
			t.Fatalf("lxml reports %q", got)
		}
		// The interpreter's sys.path holds lxml and the standard library:
		// not the pip and setuptools that ensurepip put in the Python part.
		out.Reset()
		args = []string{"python3", "-c", "import pip"}
		if _, err := e.RunLoaded(ctx, img, RunOptions{Args: args, Stdout: &out, Stderr: &out}); err == nil || !strings.Contains(out.String(), "No module named 'pip'") {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
	})

	t.Run("etree needs only glibc and the libxml2, libxslt and zlib parts", func(t *testing.T) {
		root := t.TempDir()
		if err := image.Extract(img, root); err != nil {
			t.Fatal(err)
		}
		rep, err := policy.CheckRoot(root, policy.Options{AllowLibstdcxx: true, AllowLibgcc: true}) // hbuild verify's defaults
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Violations) != 0 {
			t.Fatalf("violations: %+v", rep.Violations)
		}
		etree := regexp.MustCompile(`^/opt/hbuild/parts/lxml-python/lxml/etree\.cpython-311-.*\.so$`)
		allowed := regexp.MustCompile(`^/opt/hbuild/parts/(libxml2|libxslt|zlib)/lib/`)
		found := false
		for _, f := range rep.Files {
			if !etree.MatchString(f.Path) {
				continue
			}
			found = true
			var libs []string
			for _, n := range f.Needed {
				libs = append(libs, n.Name)
				switch {
				case n.From == "base" && strings.HasPrefix(n.Name, "lib") && isGlibc(n.Name):
				case allowed.MatchString(n.Path):
				default:
					t.Errorf("%s needs %s from %s (%s)", f.Path, n.Name, n.From, n.Path)
				}
			}
			if got := strings.Join(libs, " "); !strings.Contains(got, "libxml2.so.2") || !strings.Contains(got, "libxslt.so.1") {
				t.Errorf("%s needs %s", f.Path, got)
			}
		}
		if !found {
			t.Fatal("no etree shared object in the image")
		}
	})

	t.Run("without libxml2 lxml's build fails and names it", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "hbuild.cfg")
		// lxml-python no longer references libxml2 (nor libxslt, which is
		// built on it): the host's libxml2-dev is all there would be.
		writeFile(t, p, "[buildout]\nextends = "+profilePath+"\nparts = lxml-python\n\n"+
			"[lxml-python]\ninclude-dirs = ${zlib:location}/include\nlibrary-dirs = ${zlib:location}/lib\nrpath = ${zlib:location}/lib\nenvironment =\n")
		pl := planReal(t, e, p)
		if d := pl.Part("lxml-python").Deps; strings.Contains(strings.Join(d, " "), "libxml2") {
			t.Fatalf("lxml-python still depends on libxml2: %v", d)
		}
		_, err := e.Build(ctx, pl, nil)
		var pe *PartError
		if !errors.As(err, &pe) || pe.Part != "lxml-python" || pe.Step != "build" {
			t.Fatalf("build error %v, want lxml-python failing in step build", err)
		}
		var libs []string
		for _, m := range pe.Missing {
			libs = append(libs, m.Library)
		}
		if !strings.Contains(strings.Join(libs, " "), "libxml2") {
			t.Fatalf("the failure does not name libxml2: %+v\n%v", pe.Missing, err)
		}
		// The host has libxml2-dev (scripts/deps.sh installs it): hbuild
		// says the build reached for it and that builds never see it.
		if !strings.Contains(err.Error(), "library libxml2: the host has it at ") || !strings.Contains(err.Error(), "(Debian package libxml2-dev") {
			t.Fatalf("message:\n%v", err)
		}
	})

	t.Run("find-links: an sdist and a wheel, pinned, with console scripts", func(t *testing.T) {
		links := t.TempDir()
		writeFile(t, filepath.Join(links, "hello-sdist-1.0.tar.gz"), string(helloSdist(t)))
		writeFile(t, filepath.Join(links, "hello-sdist-0.9.tar.gz"), string(helloSdist(t)))
		writeFile(t, filepath.Join(links, "hello_wheel-2.0-py3-none-any.whl"), string(helloWheel(t)))
		// find-links is a page listing the files, served on loopback,
		// the only host allowed.
		srv := httptest.NewServer(http.FileServer(http.Dir(links)))
		t.Cleanup(srv.Close)
		dir := t.TempDir()
		p := filepath.Join(dir, "hbuild.cfg")
		writeFile(t, p, "[buildout]\nextends = "+profilePath+"\nparts = tools-image\nfind-links = "+srv.URL+"/\nallow-hosts = "+strings.TrimPrefix(srv.URL, "http://")+"\n\n"+
			"[versions]\nhello-sdist = 1.0\nhello-wheel = 2.0\n\n"+
			"[tools]\nrecipe = zc.recipe.egg\neggs =\n  hello-wheel\n  ${lxml-python:egg}\ninterpreter = py\nscripts = hello-wheel=hello\n\n"+
			"[tools-image]\nrecipe = oci-image\nparts = tools\n")
		pl := planReal(t, e, p)
		res, err := e.Build(ctx, pl, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(res.Built, " "); got != "tools" {
			t.Fatalf("built %q, want only tools (python, lxml and the libraries are cached)", got)
		}
		img, err := e.Image(ctx, pl, pl.Part("tools-image"))
		if err != nil {
			t.Fatal(err)
		}
		run := func(args ...string) string {
			t.Helper()
			var out bytes.Buffer
			if _, err := e.RunLoaded(ctx, img, RunOptions{Args: args, Stdout: &out, Stderr: &out}); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out.String())
			}
			return strings.TrimSpace(out.String())
		}
		// The wheel's console script, renamed by scripts; it imports the
		// sdist's module, a dependency found through Requires-Dist.
		if got := run("/opt/hbuild/parts/tools/bin/hello"); got != "wheel 2.0 sees sdist 1.0" {
			t.Fatalf("hello said %q", got)
		}
		ent := e.Cached(pl.Part("tools"))
		if ent == nil {
			t.Fatal("tools is not in the store")
		}
		if _, err := os.Stat(filepath.Join(ent.Tree(), "bin", "hello-sdist")); err == nil {
			t.Error("the scripts option did not filter hello-sdist out")
		}
		// The distributions in the order they were resolved (eggs, then
		// what they need), then the script's own directory.
		got := run("/opt/hbuild/parts/tools/bin/py", "-c", "import sys, hello_sdist, lxml.etree; print(sys.path[:4])")
		want := "['/opt/hbuild/parts/tools/eggs/hello_wheel-2.0', '/opt/hbuild/parts/lxml-python', '/opt/hbuild/parts/tools/eggs/hello_sdist-1.0', '/opt/hbuild/parts/tools/bin']"
		if got != want {
			t.Fatalf("sys.path of the interpreter:\n got %s\nwant %s", got, want)
		}
	})
}

func isGlibc(soname string) bool {
	for _, p := range []string{"libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so", "libutil.so"} {
		if strings.HasPrefix(soname, p) {
			return true
		}
	}
	return false
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// helloSdist is a setuptools sdist with a console script.
func helloSdist(t *testing.T) []byte {
	t.Helper()
	return tarball(t, "hello-sdist-1.0", map[string]string{
		"PKG-INFO":                              "Metadata-Version: 2.1\nName: hello-sdist\nVersion: 1.0\n",
		"setup.py":                              "from setuptools import setup\nsetup(name='hello-sdist', version='1.0', packages=['hello_sdist'],\n      entry_points={'console_scripts': ['hello-sdist = hello_sdist:main']})\n",
		"hello_sdist/__init__.py":               "VERSION = '1.0'\n\ndef main():\n    print('sdist', VERSION)\n",
		"hello_sdist.egg-info/PKG-INFO":         "Metadata-Version: 2.1\nName: hello-sdist\nVersion: 1.0\n",
		"hello_sdist.egg-info/entry_points.txt": "[console_scripts]\nhello-sdist = hello_sdist:main\n",
		"hello_sdist.egg-info/top_level.txt":    "hello_sdist\n",
		"hello_sdist.egg-info/SOURCES.txt":      "setup.py\nhello_sdist/__init__.py\n",
	})
}

// helloWheel is a pure wheel that needs hello-sdist.
func helloWheel(t *testing.T) []byte {
	t.Helper()
	files := map[string]string{
		"hello_wheel/__init__.py":                    "import hello_sdist\n\ndef main():\n    print('wheel 2.0 sees sdist', hello_sdist.VERSION)\n",
		"hello_wheel-2.0.dist-info/METADATA":         "Metadata-Version: 2.1\nName: hello-wheel\nVersion: 2.0\nRequires-Dist: hello-sdist (>=1.0)\nRequires-Dist: nothing-on-linux ; sys_platform == \"win32\"\n",
		"hello_wheel-2.0.dist-info/WHEEL":            "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
		"hello_wheel-2.0.dist-info/entry_points.txt": "[console_scripts]\nhello-wheel = hello_wheel:main\n",
		"hello_wheel-2.0.dist-info/RECORD":           "",
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range sortedFileNames(files) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(files[name])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sortedFileNames(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
