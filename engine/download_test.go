package engine

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// download and download-unpacked need no sandbox step: their sources go
// straight into the part's location.
func TestDownloadRecipes(t *testing.T) {
	dir := t.TempDir()
	tgz := tarball(t, "pkg-1.0", map[string]string{"README": "hi\n", "sub/x": "x\n"})
	if err := os.WriteFile(filepath.Join(dir, "pkg-1.0.tar.gz"), tgz, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "hbuild.cfg")
	if err := os.WriteFile(path, []byte(`
[buildout]
parts = unpacked kept-top file
[unpacked]
recipe = slapos.recipe.build:download-unpacked
url = ${:_profile_base_location_}/pkg-1.0.tar.gz
sha256 = `+sha(tgz)+`
[kept-top]
recipe = hexagonit.recipe.download
url = ${:_profile_base_location_}/pkg-1.0.tar.gz
strip-top-level-dir = false
[file]
recipe = slapos.recipe.build:download
url = ${:_profile_base_location_}/notes.txt
filename = NOTES
`), 0o644); err != nil {
		t.Fatal(err)
	}
	fake := func(context.Context) (*Base, error) { return &Base{Name: "fake", Digest: "sha256:fake"}, nil }
	e, err := New(Options{CacheDir: t.TempDir(), Toolchain: fake, Glibc: fake})
	if err != nil {
		t.Fatal(err)
	}
	pl := planWith(t, e, path)
	if _, err := e.Build(context.Background(), pl, nil); err != nil {
		t.Fatal(err)
	}
	for part, want := range map[string]string{
		"unpacked": "README sub sub/x",
		"kept-top": "pkg-1.0 pkg-1.0/README pkg-1.0/sub pkg-1.0/sub/x",
		"file":     "NOTES",
	} {
		ent, err := e.Store.Get(pl.Part(part).Key)
		if err != nil || ent == nil {
			t.Fatalf("%s: %v", part, err)
		}
		var got []string
		filepath.WalkDir(ent.Tree(), func(p string, _ os.DirEntry, _ error) error {
			if rel, _ := filepath.Rel(ent.Tree(), p); rel != "." {
				got = append(got, rel)
			}
			return nil
		})
		sort.Strings(got)
		if strings.Join(got, " ") != want {
			t.Errorf("%s: tree %q, want %q", part, got, want)
		}
	}
}

// allow-hosts refuses other hosts; find-links can stand in for them.
func TestFetchAllowHostsFindLinks(t *testing.T) {
	f := newFixture(t)
	fake := func(context.Context) (*Base, error) { return &Base{Name: "fake", Digest: "sha256:fake"}, nil }
	e, err := New(Options{CacheDir: t.TempDir(), Toolchain: fake, Glibc: fake})
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(extra string) string {
		return writeProfile(t, map[string]string{"hbuild.cfg": "[buildout]\nparts = greet\n" + extra + "\n[greet]\nrecipe = cmmi\nurl = " + f.srv.URL + "/greet-1.0.tar.gz\nsha256 = " + sha(f.greet) + "\n"})
	}
	_, err = e.Fetch(context.Background(), planWith(t, e, cfg("allow-hosts = *.example.org")), nil)
	if err == nil || !strings.Contains(err.Error(), "greet:url") {
		t.Fatalf("allow-hosts: %v", err)
	}
	mirror := t.TempDir()
	if err := os.WriteFile(filepath.Join(mirror, "greet-1.0.tar.gz"), f.greet, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := e.Fetch(context.Background(), planWith(t, e, cfg("allow-hosts = *.example.org\nfind-links = "+mirror)), nil)
	if err != nil || len(got) != 1 || got[0].SHA256 != sha(f.greet) {
		t.Fatalf("find-links: %+v %v", got, err)
	}
}
