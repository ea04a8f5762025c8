package profile

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestURLExtends serves profiles over HTTP on loopback: a local profile
// extends a URL whose file extends a relative name (joined to the URL), the
// files land in the cache, and an offline load reads them from there.
func TestURLExtends(t *testing.T) {
	var hits atomic.Int32
	files := map[string]string{
		"/p/remote.cfg": "[buildout]\nextends = base.cfg\n[s]\nx += remote\nu = ${:_profile_base_location_}/f\n",
		"/p/base.cfg":   "[s]\nx = base\n",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()
	cfg := writeFiles(t, map[string]string{
		"buildout.cfg": "[buildout]\nparts =\nextends = " + srv.URL + "/p/remote.cfg\n[s]\nx += local\n",
	})
	cache := t.TempDir()
	opts := LoadOptions{IgnoreUserDefaults: true, CacheDir: cache, HTTPClient: srv.Client()}
	p, err := Load(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	check := func(p *Profile) {
		t.Helper()
		if v, err := p.Get("s", "x"); err != nil || v != "base\nremote\nlocal" {
			t.Fatalf("s:x = %q, %v", v, err)
		}
		if v, err := p.Get("s", "u"); err != nil || v != srv.URL+"/p/f" {
			t.Fatalf("s:u = %q, %v", v, err)
		}
		files := p.Files()
		if len(files) != 3 || files[1] != srv.URL+"/p/remote.cfg" || files[2] != srv.URL+"/p/base.cfg" {
			t.Fatalf("Files() = %q", files)
		}
		if v, _ := p.Raw("s", "x"); v.Origins[0].File != srv.URL+"/p/base.cfg" || v.Origins[0].Line != 2 {
			t.Fatalf("s:x origins %+v", v.Origins)
		}
	}
	check(p)
	if n := hits.Load(); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
	entries, err := os.ReadDir(cache)
	if err != nil || len(entries) != 2 {
		t.Fatalf("cache holds %d entries (%v), want 2", len(entries), err)
	}

	srv.Close() // offline from now on: only the cache answers
	opts.Offline = true
	p, err = Load(cfg, opts)
	if err != nil {
		t.Fatalf("offline load from the cache: %v", err)
	}
	check(p)

	opts.CacheDir = t.TempDir()
	_, err = Load(cfg, opts)
	var pe *Error
	if !errors.As(err, &pe) || filepath.Base(pe.File) != "buildout.cfg" || pe.Line != 3 || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("offline load without a cache: %v", err)
	}
}

func TestUserDefaults(t *testing.T) {
	dir := t.TempDir()
	ud := filepath.Join(dir, "defaults.cfg")
	if err := os.WriteFile(ud, []byte("[s]\nu = user\nz = user\n[buildout]\nnewest = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"buildout.cfg": "[buildout]\nparts =\n[s]\nz += top\n"}
	p, err := Load(writeFiles(t, files), LoadOptions{UserDefaults: ud})
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"s:u": "user", "s:z": "user\ntop", "buildout:newest": "false"} {
		s, o, _ := strings.Cut(ref, ":")
		if v, err := p.Get(s, o); err != nil || v != want {
			t.Errorf("%s = %q, %v; want %q", ref, v, err, want)
		}
	}
	if v, _ := p.Raw("s", "u"); v.Origins[0].Kind != KindUserDefaults || v.Origins[0].File != ud {
		t.Errorf("s:u origin %+v", v.Origins[0])
	}
	p, err = Load(writeFiles(t, files), LoadOptions{UserDefaults: ud, IgnoreUserDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Has("s") && func() bool { _, ok := p.Raw("s", "u"); return ok }() {
		t.Error("IgnoreUserDefaults still read the user defaults")
	}
	if _, err := Load(writeFiles(t, files), LoadOptions{UserDefaults: filepath.Join(dir, "nothere.cfg")}); err == nil {
		t.Error("a missing explicit user defaults file is not an error")
	}
}

func TestDirectoryOption(t *testing.T) {
	p, err := load(t, map[string]string{"buildout.cfg": "[buildout]\nparts =\n[s]\nd = ${buildout:directory}\n"},
		LoadOptions{Directory: "/opt/hbuild"})
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"s:d": "/opt/hbuild", "buildout:parts-directory": "/opt/hbuild/parts",
		"buildout:installed": "/opt/hbuild/.installed.cfg", "buildout:eggs-directory": "/opt/hbuild/eggs"} {
		s, o, _ := strings.Cut(ref, ":")
		if v, err := p.Get(s, o); err != nil || v != want {
			t.Errorf("%s = %q, %v; want %q", ref, v, err, want)
		}
	}
	if p.Directory() != "/opt/hbuild" {
		t.Errorf("Directory() = %q", p.Directory())
	}
}

func TestOverrides(t *testing.T) {
	files := map[string]string{"buildout.cfg": "[buildout]\nparts =\n[s]\nx = 1\nl = a\n  b\n"}
	p, err := load(t, files, LoadOptions{Overrides: []string{"s:x=2", "s:l-=a", "s:l+=c", "t:new = v ", "newest=false"}})
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"s:x": "2", "s:l": "b\nc", "t:new": "v", "buildout:newest": "false"} {
		s, o, _ := strings.Cut(ref, ":")
		if v, err := p.Get(s, o); err != nil || v != want {
			t.Errorf("%s = %q, %v; want %q", ref, v, err, want)
		}
	}
	if v, _ := p.Raw("s", "x"); v.Origins[len(v.Origins)-1].Kind != KindCommandLine || v.Origins[len(v.Origins)-1].Op != OpOverride {
		t.Errorf("s:x origins %+v", v.Origins)
	}
	for _, bad := range []string{"noequals", "a:b:c=1", ":x=1"} {
		if _, err := load(t, files, LoadOptions{Overrides: []string{bad}}); err == nil {
			t.Errorf("override %q accepted", bad)
		}
	}
}

func TestRefsAndExpanded(t *testing.T) {
	p := mustLoad(t, map[string]string{"buildout.cfg": "[buildout]\nparts = a\n" +
		"[m]\nrecipe = r\nloc = ${dep:location}\n" +
		"[a]\n<= m\nx = ${:loc} ${other:y} $${notref:z} ${buildout:directory}\n=> extra\n" +
		"[dep]\nlocation = /d\n[other]\ny = 1\n[extra]\nrecipe = r\n"})
	refs, err := p.Refs("a")
	if err != nil || strings.Join(refs, " ") != "buildout dep extra other" {
		t.Fatalf("Refs(a) = %q, %v", refs, err)
	}
	exp, err := p.Expanded("a")
	if err != nil {
		t.Fatal(err)
	}
	if v := exp["recipe"]; v == nil || v.Raw != "r" || v.Origins[len(v.Origins)-1].Op != OpMacro || v.Origins[len(v.Origins)-1].Text != "m" {
		t.Fatalf("Expanded(a)[recipe] = %+v", v)
	}
	if _, ok := exp["<"]; ok {
		t.Fatal("Expanded keeps the < option")
	}
	if v, ok := p.Raw("a", "recipe"); !ok || v.Raw != "r" || v.Origins[len(v.Origins)-1].Op != OpMacro {
		t.Fatalf("Raw(a, recipe) = %+v, %v (inherited through <=)", v, ok)
	}
	if v, ok := p.Raw("a", "x"); !ok || !strings.HasPrefix(v.Raw, "${:loc}") || v.Origins[0].Line != 8 {
		t.Fatalf("Raw(a, x) = %+v, %v", v, ok)
	}
	if _, ok := p.Raw("a", "nosuch"); ok {
		t.Fatal("Raw(a, nosuch) found")
	}
	opts, err := p.Options("a")
	if err != nil || strings.Join(opts, " ") != "<part-dependencies> loc recipe x" {
		t.Fatalf("Options(a) = %q, %v", opts, err)
	}
	if raw, _ := p.RawOptions("a"); strings.Join(raw, " ") != "< <part-dependencies> x" {
		t.Fatalf("RawOptions(a) = %q", raw)
	}
	all, err := p.Resolve("a")
	if err != nil || all["loc"] != "/d" || all["x"] != "/d 1 $${notref:z} "+filepath.Dir(p.Path()) {
		t.Fatalf("Resolve(a) = %q, %v", all, err)
	}
}

// TestAnnotateVerbose is the spec's verbose annotate example (§12).
func TestAnnotateVerbose(t *testing.T) {
	p := mustLoad(t, map[string]string{
		"base.cfg":     "[s]\na = base\nb =\n  b1\n  b2\n",
		"mid.cfg":      "[buildout]\nextends = base.cfg\n[s]\na += mid\nb +=\n  b3\n  b2\n",
		"buildout.cfg": "[buildout]\nextends = mid.cfg\nparts =\n[s]\na += top\nb -= b2\n",
	})
	var buf bytes.Buffer
	if err := p.Annotate(&buf, []string{"s", "nosuch"}, true); err != nil {
		t.Fatal(err)
	}
	want := `
Annotated sections
==================

[s]
a= base
mid
top

   IN buildout.cfg
   ADD VALUE = top
   IN mid.cfg
   ADD VALUE = mid
   IN base.cfg
   SET VALUE = base

b= b1
b3

   IN buildout.cfg
   REMOVE VALUE = b2
   IN mid.cfg
   ADD VALUE =
      b3
      b2
   IN base.cfg
   SET VALUE =
      b1
      b2

`
	if buf.String() != want {
		t.Fatalf("verbose annotate:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestConditions(t *testing.T) {
	g := conditionGlobals()
	for expr, want := range map[string]bool{
		`linux`: true, `windows`: false, `python3`: true, `python2`: false, `python311`: true, `python27`: false,
		`posix and bits64`: true, `bits32`: false, `cpython and not pypy`: true,
		`sys.version_info < (3,8)`: false, `sys.version_info >= (3, 11)`: true, `sys.version_info[:2] == (3, 11)`: true,
		`sys.version_info.major == 3`:                                      true,
		`linux and platform.machine() == "` + machine() + `"`:              true,
		`not linux or platform.machine() != 'riscv64'`:                     machine() != "riscv64",
		`not (linux and platform.machine() == "x86_64")`:                   machine() != "x86_64",
		`platform.machine() in ("x86_64", "aarch64", "` + machine() + `")`: true,
		`sys.platform.startswith("lin") and bits64`:                        true,
		`python_version >= "3.0"`:                                          true,
		`python_version >= "3.9"`:                                          true, // a version comparison, not a string one
		`sys_platform == "linux" and platform_machine != ""`:               true,
		`python_full_version ~= "3.11.0"`:                                  true,
		`[1][0]`:                                                           true,
		`0`:                                                                false,
		`"a#b" == "a" + chr(35) + "b"`:                                     true,
		`[int(x) for x in "5.10.3".split(".")[:2]] >= [5, 4]`:              true,
		`len("abc") == 3 and "b" in "abc" and 3 % 2 == 1 and -1 < 0`:       true,
		`1 if linux else 0`:                                                true,
		`None is None`:                                                     true,
	} {
		got, err := evalCondition(expr, g)
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", expr, got, err, want)
		}
	}
	for _, bad := range []string{`nosuchname`, `linux and`, `sys.nosuch`, `(`, `"a" < 1`, `int("x")`, `[][0]`, `"x" * 100000000000`} {
		if _, err := evalCondition(bad, g); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
