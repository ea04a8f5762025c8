package recipes

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// eggWorld is a profile seen by the egg recipes: sections, a find-links
// directory, and what was warned.
type eggWorld struct {
	t        *testing.T
	sections map[string]map[string]string
	links    string
	cas      string // where Fetch puts its copies
	warned   []string
	fetched  []string
}

func newEggWorld(t *testing.T) *eggWorld {
	w := &eggWorld{t: t, links: t.TempDir(), cas: t.TempDir(), sections: map[string]map[string]string{
		"buildout": {"directory": "/opt/hbuild", "python": "python"},
		"python":   {"recipe": "slapos.recipe.cmmi", "location": "/opt/hbuild/parts/python", "version": "3.11"},
		"versions": {},
	}}
	w.sections["buildout"]["find-links"] = w.links
	return w
}

func (w *eggWorld) ctx(part string, deps ...string) *Context {
	return &Context{
		Part: part, Location: "/opt/hbuild/parts/" + part, Directory: "/opt/hbuild", BaseDir: w.links,
		Env: map[string]string{"PATH": "/usr/bin:/bin"},
		Section: func(name string) (map[string]string, error) {
			s, ok := w.sections[name]
			if !ok {
				return nil, fmt.Errorf("no section %s", name)
			}
			return s, nil
		},
		Deps: deps,
		// Like the download cache, Fetch returns a copy named by its
		// digest: the recipe must not rely on the file's name.
		Fetch: func(u string, immutable bool) (string, string, error) {
			w.fetched = append(w.fetched, u)
			b, err := os.ReadFile(strings.TrimPrefix(u, "file://"))
			if err != nil {
				return "", "", err
			}
			h := sha256.Sum256(b)
			sum := hex.EncodeToString(h[:])
			p := filepath.Join(w.cas, sum)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				return "", "", err
			}
			return p, sum, nil
		},
		Warn: func(m string) { w.warned = append(w.warned, m) },
	}
}

func (w *eggWorld) sdist(name, version string, files map[string]string) string {
	w.t.Helper()
	top := name + "-" + version
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	all := map[string]string{"PKG-INFO": fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version)}
	for k, v := range files {
		all[k] = v
	}
	var names []string
	for k := range all {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: top + "/" + n, Mode: 0o644, Size: int64(len(all[n])), Typeflag: tar.TypeReg}); err != nil {
			w.t.Fatal(err)
		}
		if _, err := tw.Write([]byte(all[n])); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		w.t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		w.t.Fatal(err)
	}
	p := filepath.Join(w.links, top+".tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *eggWorld) wheel(name, version string, requires []string, scripts map[string]string) string {
	w.t.Helper()
	dist := strings.ReplaceAll(name, "-", "_")
	meta := fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version)
	for _, r := range requires {
		meta += "Requires-Dist: " + r + "\n"
	}
	files := map[string]string{dist + "-" + version + ".dist-info/METADATA": meta, dist + "/__init__.py": ""}
	if len(scripts) > 0 {
		ep := "[console_scripts]\n"
		for k, v := range scripts {
			ep += k + " = " + v + "\n"
		}
		files[dist+"-"+version+".dist-info/entry_points.txt"] = ep
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for n, c := range files {
		f, err := zw.Create(n)
		if err != nil {
			w.t.Fatal(err)
		}
		if _, err := f.Write([]byte(c)); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		w.t.Fatal(err)
	}
	p := filepath.Join(w.links, dist+"-"+version+"-py3-none-any.whl")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return p
}

func fileContent(b *Build, p string) string {
	for _, f := range b.Files {
		if f.Path == p {
			return string(f.Content)
		}
	}
	return ""
}

func TestEggCustomFromFindLinks(t *testing.T) {
	w := newEggWorld(t)
	w.sdist("lxml", "4.9.1", map[string]string{"setup.py": ""})
	p := w.sdist("lxml", "4.9.2", map[string]string{"setup.py": ""})
	w.sections["versions"]["lxml"] = "4.9.2"
	b, err := prepareEggCustom(w.ctx("lxml-python"), map[string]string{
		"egg":          "lxml",
		"include-dirs": "/opt/hbuild/parts/libxml2/include/libxml2\n/opt/hbuild/parts/zlib/include",
		"library-dirs": "/opt/hbuild/parts/libxml2/lib",
		"rpath":        "/opt/hbuild/parts/libxml2/lib\n/opt/hbuild/parts/zlib/lib",
		"define":       "CYTHON_CLINE_IN_TRACEBACK=0, WITH_X",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Sources) != 1 || b.Sources[0].URL != p || !b.Sources[0].Unpack || len(b.Sources[0].Sums) != 1 || b.Sources[0].Sums[0].Algo != "sha256" {
		t.Fatalf("sources %+v, want the pinned sdist with its sha256", b.Sources)
	}
	if strings.Join(b.Deps, " ") != "python" {
		t.Fatalf("deps %v, want the python part", b.Deps)
	}
	cfg := fileContent(b, "/build/.hbuild/build_ext.cfg")
	for _, want := range []string{
		"[build_ext]",
		"include_dirs = /opt/hbuild/parts/libxml2/include/libxml2:/opt/hbuild/parts/zlib/include\n",
		"library_dirs = /opt/hbuild/parts/libxml2/lib\n",
		"rpath = /opt/hbuild/parts/libxml2/lib:/opt/hbuild/parts/zlib/lib\n",
		"define = CYTHON_CLINE_IN_TRACEBACK=0,WITH_X\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("setup.cfg addition lacks %q:\n%s", want, cfg)
		}
	}
	var steps []string
	for _, s := range b.Steps {
		steps = append(steps, s.Name)
		if s.Name == "install" && !strings.Contains(s.Script, "/opt/hbuild/parts/python/bin/python3.11 setup.py install --single-version-externally-managed") {
			t.Errorf("install step: %s", s.Script)
		}
	}
	if strings.Join(steps, " ") != "setup.cfg build install" {
		t.Errorf("steps %v", steps)
	}

	// An unknown pin lists what exists.
	w.sections["versions"]["lxml"] = "5.0"
	_, err = prepareEggCustom(w.ctx("lxml-python"), map[string]string{"egg": "lxml"})
	if err == nil || !strings.Contains(err.Error(), "4.9.2") || !strings.Contains(err.Error(), "5.0") {
		t.Fatalf("unknown pin: %v", err)
	}
}

func TestEggPythonIsRequired(t *testing.T) {
	w := newEggWorld(t)
	delete(w.sections["buildout"], "python")
	_, err := prepareEggScripts(w.ctx("scripts"), map[string]string{"eggs": "foo"})
	if err == nil || !strings.Contains(err.Error(), "python = PART") || !strings.Contains(err.Error(), "no Python") {
		t.Fatalf("error %v", err)
	}
	w.sections["buildout"]["python"] = "python"
	delete(w.sections["python"], "version")
	_, err = prepareEggScripts(w.ctx("scripts"), map[string]string{"eggs": "foo"})
	if err == nil || !strings.Contains(err.Error(), "version = 3.X") {
		t.Fatalf("error %v", err)
	}
}

func TestEggScriptsResolvesPinsAndWritesScripts(t *testing.T) {
	w := newEggWorld(t)
	w.wheel("app", "1.0", []string{"lib (>=2.0)", "winonly; sys_platform == \"win32\"", "extra-dep; extra == \"test\""},
		map[string]string{"app": "app.cli:main", "app-admin": "app.admin:run"})
	w.sdist("lib", "2.1", map[string]string{
		"setup.py":                          "",
		"lib.egg-info/entry_points.txt":     "[console_scripts]\nlib-tool = lib:tool\n",
		"lib.egg-info/PKG-INFO":             "Metadata-Version: 2.1\nName: lib\nVersion: 2.1\n",
		"lib.egg-info/requires.txt":         "",
		"lib.egg-info/dependency_links.txt": "",
	})
	w.sdist("lib", "1.5", map[string]string{"setup.py": ""})
	w.sections["versions"]["app"] = "1.0"
	w.sections["versions"]["Lib"] = "2.1" // names compare normalized
	w.sections["lxml-python"] = map[string]string{"recipe": "zc.recipe.egg:custom", "egg": "lxml", "location": "/opt/hbuild/parts/lxml-python"}
	b, err := prepareEggScripts(w.ctx("scripts", "lxml-python"), map[string]string{
		"eggs":         "app\nlxml",
		"interpreter":  "py",
		"scripts":      "app=app-cli lib-tool",
		"entry-points": "extra=app.extra:go",
		"extra-paths":  "/opt/hbuild/parts/data",
		"arguments":    "'x'",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.warned) != 0 {
		t.Errorf("warnings for pinned versions: %v", w.warned)
	}
	var dests []string
	for _, s := range b.Sources {
		dests = append(dests, s.Dest)
	}
	if got := strings.Join(dests, " "); got != "/opt/hbuild/parts/scripts/eggs/app-1.0 /build/.hbuild/dists/lib-2.1" {
		t.Fatalf("sources go to %s", got)
	}
	interp := fileContent(b, "/opt/hbuild/parts/scripts/bin/py")
	wantPath := "sys.path[0:0] = [\n    '/opt/hbuild/parts/scripts/eggs/app-1.0',\n    '/opt/hbuild/parts/lxml-python',\n    '/opt/hbuild/parts/scripts/eggs/lib-2.1',\n    '/opt/hbuild/parts/data',\n]\n"
	if !strings.HasPrefix(interp, "#!/opt/hbuild/parts/python/bin/python3.11\n") || !strings.Contains(interp, wantPath) {
		t.Fatalf("interpreter:\n%s\nwant sys.path\n%s", interp, wantPath)
	}
	// scripts renames app, keeps lib-tool out (lib is not named in eggs),
	// drops app-admin; entry-points adds nothing because the filter does
	// not name it.
	var bins []string
	for _, f := range b.Files {
		bins = append(bins, filepath.Base(f.Path))
	}
	sort.Strings(bins)
	if got := strings.Join(bins, " "); got != "app-cli py" {
		t.Fatalf("scripts %s, want app-cli py", got)
	}
	if s := fileContent(b, "/opt/hbuild/parts/scripts/bin/app-cli"); !strings.Contains(s, "import app.cli\n") || !strings.Contains(s, "sys.exit(app.cli.main('x'))") {
		t.Fatalf("app-cli:\n%s", s)
	}
	install := ""
	for _, s := range b.Steps {
		install += s.Script
	}
	if !strings.Contains(install, "cd /build/.hbuild/dists/lib-2.1/lib-2.1 && /opt/hbuild/parts/python/bin/python3.11 setup.py install") {
		t.Fatalf("install step:\n%s", install)
	}
}

func TestEggScriptsPickedVersions(t *testing.T) {
	w := newEggWorld(t)
	w.wheel("app", "1.0", nil, nil)
	w.wheel("app", "1.1", nil, nil)
	w.wheel("app", "2.0b1", nil, nil)
	b, err := prepareEggScripts(w.ctx("scripts"), map[string]string{"eggs": "app"})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.warned) != 1 || !strings.Contains(w.warned[0], "picked app = 1.1") {
		t.Fatalf("warnings %v, want one saying app = 1.1 was picked", w.warned)
	}
	if b.Sources[0].Dest != "/opt/hbuild/parts/scripts/eggs/app-1.1" {
		t.Fatalf("picked %s", b.Sources[0].Dest)
	}
	w.sections["buildout"]["allow-picked-versions"] = "false"
	_, err = prepareEggScripts(w.ctx("scripts"), map[string]string{"eggs": "app"})
	if err == nil || !strings.Contains(err.Error(), "add app = 1.1 to [versions]") {
		t.Fatalf("error %v", err)
	}
	// A requirement the pin does not satisfy.
	w.sections["versions"]["app"] = "1.0"
	_, err = prepareEggScripts(w.ctx("scripts"), map[string]string{"eggs": "app>=1.1"})
	if err == nil || !strings.Contains(err.Error(), "pins app = 1.0") {
		t.Fatalf("error %v", err)
	}
}

// A distribution in a find-links directory may be a symbolic link; a
// directory named like a distribution is not one.
func TestEggFindLinksSymlink(t *testing.T) {
	w := newEggWorld(t)
	linked := w.wheel("app", "1.0", nil, nil)
	moved := filepath.Join(t.TempDir(), filepath.Base(linked))
	if err := os.Rename(linked, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(moved, linked); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(w.links, "app-2.0.tar.gz"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := prepareEggScripts(w.ctx("scripts"), map[string]string{"eggs": "app"})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Sources) != 1 || b.Sources[0].URL != linked {
		t.Fatalf("sources %+v, want the linked wheel %s", b.Sources, linked)
	}
}

func TestEggScriptsSdistWithoutSetupPy(t *testing.T) {
	w := newEggWorld(t)
	w.sdist("modern", "1.0", map[string]string{"pyproject.toml": "[build-system]\n"})
	w.sections["versions"]["modern"] = "1.0"
	_, err := prepareEggScripts(w.ctx("scripts"), map[string]string{"eggs": "modern"})
	if err == nil || !strings.Contains(err.Error(), "no setup.py") || !strings.Contains(err.Error(), "wheel") {
		t.Fatalf("error %v", err)
	}
}

func TestEggScriptsFromAPage(t *testing.T) {
	w := newEggWorld(t)
	p := w.wheel("app", "1.0", nil, nil)
	page := filepath.Join(t.TempDir(), "index.html")
	// A page whose link carries a sha256: the file is fetched with it.
	sum := sha256.Sum256(mustRead(t, p))
	html := fmt.Sprintf(`<html><a href="app-1.0-py3-none-any.whl#sha256=%x">app</a></html>`, sum)
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	w.sections["buildout"]["find-links"] = "http://mirror.invalid/simple/app/"
	w.sections["versions"]["app"] = "1.0"
	ctx := w.ctx("scripts")
	ctx.Fetch = func(u string, immutable bool) (string, string, error) {
		w.fetched = append(w.fetched, fmt.Sprintf("%s %v", u, immutable))
		switch {
		case u == "http://mirror.invalid/simple/app/":
			return page, "", nil
		case strings.HasPrefix(u, "http://mirror.invalid/simple/app/app-1.0-py3-none-any.whl#sha256="):
			return p, fmt.Sprintf("%x", sum), nil
		}
		return "", "", fmt.Errorf("unexpected fetch %s", u)
	}
	b, err := prepareEggScripts(ctx, map[string]string{"eggs": "app"})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.fetched) != 2 || !strings.HasSuffix(w.fetched[0], " false") || !strings.HasSuffix(w.fetched[1], " true") {
		t.Fatalf("fetches %v: the page (not immutable), then the wheel (immutable)", w.fetched)
	}
	if b.Sources[0].URL != "http://mirror.invalid/simple/app/app-1.0-py3-none-any.whl" {
		t.Fatalf("source %+v", b.Sources[0])
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
