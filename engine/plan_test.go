package engine

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hbuild/hbuild/profile"
)

// writeProfile writes files (name -> content) into a new directory and
// returns the path of the first one, hbuild.cfg.
func writeProfile(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "hbuild.cfg")
}

const chainProfile = `
[buildout]
parts = image libxslt

[zlib]
recipe = slapos.recipe.cmmi
url = ${:_profile_base_location_}/src/zlib.tar.gz
configure-options = --static

[libxml2]
recipe = slapos.recipe.cmmi
url = ${:_profile_base_location_}/src/libxml2.tar.gz
environment =
  CPPFLAGS=-I${zlib:location}/include
  LDFLAGS=-L${zlib:location}/lib -Wl,-rpath=${zlib:location}/lib

[flags]
xml = ${libxml2:location}

[libxslt]
recipe = cmmi
url = ${:_profile_base_location_}/src/libxslt.tar.gz
configure-options = --with-libxml-prefix=${flags:xml}

[other]
recipe = cmmi
url = ${:_profile_base_location_}/src/other.tar.gz

[image]
recipe = oci-image
parts = libxslt other
entrypoint = xsltproc
`

func chainFiles(extra string) map[string]string {
	return map[string]string{
		"hbuild.cfg":         chainProfile + extra,
		"src/zlib.tar.gz":    "zlib",
		"src/libxml2.tar.gz": "libxml2",
		"src/libxslt.tar.gz": "libxslt",
		"src/other.tar.gz":   "other",
	}
}

func plan(t *testing.T, path string, overrides ...string) *Plan {
	t.Helper()
	pl, err := LoadPlan(context.Background(), path, PlanOptions{BaseDigest: "sha256:base", Load: profile.LoadOptions{IgnoreUserDefaults: true, Overrides: overrides}})
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

func TestPlanOrderDepsLocations(t *testing.T) {
	pl := plan(t, writeProfile(t, chainFiles("")))
	var names []string
	for _, p := range pl.Parts {
		names = append(names, p.Name)
	}
	// image references libxslt and other (recipe deps); libxslt reaches
	// libxml2 through [flags], libxml2 reaches zlib.
	if !reflect.DeepEqual(names, []string{"zlib", "libxml2", "libxslt", "other", "image"}) {
		t.Fatalf("order %v", names)
	}
	want := map[string][]string{"zlib": nil, "libxml2": {"zlib"}, "libxslt": {"libxml2"}, "other": nil, "image": {"libxslt", "other"}}
	for _, p := range pl.Parts {
		if !reflect.DeepEqual(p.Deps, want[p.Name]) {
			t.Errorf("%s deps %v, want %v", p.Name, p.Deps, want[p.Name])
		}
		if p.Location != "/opt/hbuild/parts/"+p.Name {
			t.Errorf("%s location %s", p.Name, p.Location)
		}
		if len(p.Key) != 64 {
			t.Errorf("%s key %q", p.Name, p.Key)
		}
	}
	xml := pl.Part("libxml2")
	if !strings.Contains(strings.Join(xml.Build.Env, " "), "CPPFLAGS=-I/opt/hbuild/parts/zlib/include") {
		t.Errorf("libxml2 env %v", xml.Build.Env)
	}
	if got := pl.Part("libxslt").Options["configure-options"]; got != "--with-libxml-prefix=/opt/hbuild/parts/libxml2" {
		t.Errorf("libxslt configure-options %q", got)
	}
	// Keys do not depend on where the profile lives.
	pl2 := plan(t, writeProfile(t, chainFiles("")))
	for _, p := range pl.Parts {
		if pl2.Part(p.Name).Key != p.Key {
			t.Errorf("%s: key differs between two copies of the profile", p.Name)
		}
	}
}

func TestPlanKeyChangesPropagate(t *testing.T) {
	path := writeProfile(t, chainFiles(""))
	a := plan(t, path)
	b := plan(t, path, "zlib:configure-options=--shared")
	for name, changed := range map[string]bool{"zlib": true, "libxml2": true, "libxslt": true, "other": false, "image": true} {
		if (a.Part(name).Key != b.Part(name).Key) != changed {
			t.Errorf("%s: key changed = %v, want %v", name, !changed, changed)
		}
	}
	// A source's content is part of the key.
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "src/other.tar.gz"), []byte("other2"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := plan(t, path)
	if c.Part("other").Key == a.Part("other").Key || c.Part("zlib").Key != a.Part("zlib").Key {
		t.Error("changing other's source did not change exactly other's key")
	}
	// So are the base and the platform.
	d, err := LoadPlan(context.Background(), path, PlanOptions{BaseDigest: "sha256:base2", Load: profile.LoadOptions{IgnoreUserDefaults: true}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Part("zlib").Key == c.Part("zlib").Key {
		t.Error("base digest not in the key")
	}
}

func TestPlanCycle(t *testing.T) {
	path := writeProfile(t, map[string]string{"hbuild.cfg": `
[buildout]
parts = a
[a]
recipe = build
script = true
x = ${mid:y}
[mid]
y = ${b:location}
[b]
recipe = build
script = true
z = ${a:location}
`})
	_, err := LoadPlan(context.Background(), path, PlanOptions{Load: profile.LoadOptions{IgnoreUserDefaults: true}})
	if err == nil || !strings.Contains(err.Error(), "dependency cycle: a -> b -> a") {
		t.Fatalf("error %v", err)
	}
}

func TestPlanErrors(t *testing.T) {
	for name, tc := range map[string]struct{ cfg, want string }{
		"unknown recipe":   {"[buildout]\nparts = a\n[a]\nrecipe = plone.recipe.zope2instance\n", "a:recipe: unknown recipe \"plone.recipe.zope2instance\"; hbuild has:"},
		"no section":       {"[buildout]\nparts = a\n", `"a" was not defined`},
		"no recipe":        {"[buildout]\nparts = a\n[a]\nx = 1\n", "missing option a:recipe"},
		"image of nothing": {"[buildout]\nparts = i\n[i]\nrecipe = oci-image\nparts = nope\n", `depends on part "nope", which is not defined`},
		"unpinned":         {"[buildout]\nparts = a\n[a]\nrecipe = cmmi\nurl = https://example.invalid/a.tar.gz\n", "has no checksum: add md5sum, sha256 or sha512"},
		"hook":             {"[buildout]\nparts = a\n[a]\nrecipe = cmmi\nurl = /x.tgz\npost-make-hook = h.py#0:f\n", "a:post-make-hook: Python hooks"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadPlan(context.Background(), writeProfile(t, map[string]string{"hbuild.cfg": tc.cfg}), PlanOptions{Load: profile.LoadOptions{IgnoreUserDefaults: true}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPlanShared(t *testing.T) {
	files := map[string]string{"hbuild.cfg": `
[buildout]
parts = app
[lib]
recipe = slapos.recipe.cmmi
shared = true
url = ${:_profile_base_location_}/lib.tgz
location = @@LOCATION@@
configure-options = --prefix=@@LOCATION@@
[app]
recipe = cmmi
url = ${:_profile_base_location_}/app.tgz
environment = LDFLAGS=-L${lib:location}/lib
`, "lib.tgz": "lib", "app.tgz": "app"}
	a := plan(t, writeProfile(t, files))
	lib := a.Part("lib")
	if !strings.HasPrefix(lib.Location, "/opt/hbuild/shared/lib/") || len(lib.Location) != len("/opt/hbuild/shared/lib/")+32 {
		t.Fatalf("shared location %s", lib.Location)
	}
	if !strings.Contains(strings.Join(a.Part("app").Build.Env, " "), "LDFLAGS=-L"+lib.Location+"/lib") {
		t.Errorf("app env %v does not use the shared location", a.Part("app").Build.Env)
	}
	if lib.Options["configure-options"] != "--prefix="+lib.Location {
		t.Errorf("placeholder not replaced: %q", lib.Options["configure-options"])
	}
	// Moving the profile keeps the shared directory; changing an option moves it.
	if b := plan(t, writeProfile(t, files)); b.Part("lib").Location != lib.Location {
		t.Errorf("moved profile: %s != %s", b.Part("lib").Location, lib.Location)
	}
	path := writeProfile(t, files)
	if c := plan(t, path, "lib:configure-options=--prefix=@@LOCATION@@ --x"); c.Part("lib").Location == lib.Location {
		t.Error("changed option kept the shared directory")
	}
}

// The example of the cmmi spec §5.2.
func TestSharedHash(t *testing.T) {
	opts := map[string]string{
		"__buildout_signature__": "slapos.recipe.cmmi-0.23-py3.egg",
		"recipe":                 "slapos.recipe.cmmi",
		"url":                    "https://example.org/foo-1.0.tar.gz",
		"md5sum":                 "0123456789abcdef0123456789abcdef",
		"shared":                 "true",
		"configure-options":      "--disable-static\n--enable-x",
	}
	if got := SharedHash(opts); got != "502508c48171205aa612e4d076ed866b" {
		t.Errorf("hash %s", got)
	}
	opts["_profile_base_location_"] = "/srv/profiles/component/foo"
	opts["patches"] = "/srv/profiles/component/foo/fix.patch#d41d8cd98f00b204e9800998ecf8427e"
	if got := SharedHash(opts); got != "8def2620cdd83c1198530c730dff436d" {
		t.Errorf("hash with base %s", got)
	}
	opts["_profile_base_location_"] = "/other/place/component/foo"
	opts["patches"] = "/other/place/component/foo/fix.patch#d41d8cd98f00b204e9800998ecf8427e"
	if got := SharedHash(opts); got != "8def2620cdd83c1198530c730dff436d" {
		t.Errorf("hash from another place %s", got)
	}
}
