package recipes

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

func TestGitClone(t *testing.T) {
	r, err := Lookup("slapos.recipe.build:gitclone")
	if err != nil || r.Name != "gitclone" {
		t.Fatalf("Lookup: %v %v", r, err)
	}
	b, err := r.Prepare(testCtx(), map[string]string{
		"repository": "https://example.invalid/x.git", "revision": commit, "branch": "main",
		"location": "@@LOCATION@@", "git-executable": "/usr/bin/git", "develop": "true", "shared": "false",
		"sparse-checkout": "/src\ndoc/*.md",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Source{{Option: "revision", Dest: loc, Unpack: true, Strip: StripFalse, Git: &GitSource{
		Repository: "https://example.invalid/x.git", Revision: commit, Branch: "main", Sparse: []string{"/src", "doc/*.md"}}}}
	if !reflect.DeepEqual(b.Sources, want) {
		t.Fatalf("sources = %+v, want %+v", b.Sources[0].Git, want[0].Git)
	}
	if len(b.Steps) != 0 {
		t.Fatalf("steps = %v", b.Steps)
	}

	// A relative local repository is taken from the profile's directory.
	b, err = r.Prepare(testCtx(), map[string]string{"repository": "repo", "revision": commit})
	if err != nil || b.Sources[0].Git.Repository != "/profiles/foo/repo" {
		t.Fatalf("relative repository: %+v %v", b, err)
	}
}

func TestGitCloneErrors(t *testing.T) {
	r, _ := Lookup("gitclone")
	for _, tc := range []struct {
		opts   map[string]string
		option string
		msg    string
	}{
		{map[string]string{"revision": commit}, "repository", "missing"},
		{map[string]string{"repository": "/r"}, "revision", "pin the commit"},
		{map[string]string{"repository": "/r", "revision": "a b"}, "revision", "one commit hash"},
		{map[string]string{"repository": "/r", "revision": commit, "location": "/elsewhere"}, "location", "hbuild computes it"},
		{map[string]string{"repository": "/r", "revision": commit, "develop": "maybe"}, "develop", ""},
		{map[string]string{"repository": "/r", "revision": commit, "sparse-checkout": "!doc"}, "sparse-checkout", "negation"},
		{map[string]string{"repository": "/r", "revision": commit, "sparse-checkout": "a/[x"}, "sparse-checkout", "syntax"},
	} {
		_, err := r.Prepare(testCtx(), tc.opts)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Part != "foo" || oe.Option != tc.option || !strings.Contains(oe.Msg, tc.msg) {
			t.Errorf("%v: err = %v, want foo:%s ... %s", tc.opts, err, tc.option, tc.msg)
		}
	}
	// A branch alone is accepted here: the engine refuses it unless
	// --allow-unpinned.
	b, err := r.Prepare(testCtx(), map[string]string{"repository": "/r", "branch": "main"})
	if err != nil || b.Sources[0].Git.Branch != "main" || b.Sources[0].Git.Revision != "" {
		t.Fatalf("branch only: %+v %v", b, err)
	}
}

func TestSparseKeep(t *testing.T) {
	pats := []string{"/src/", "doc/*.md", "Makefile"}
	for _, tc := range []struct {
		rel  string
		dir  bool
		keep bool
	}{
		{"src", true, true}, {"src/a.c", false, true}, {"src/x/y.h", false, true},
		{"doc", true, true}, {"doc/a.md", false, true}, {"doc/a.txt", false, false},
		{"Makefile", false, true}, {"README", false, false}, {"tests", true, false}, {"tests/src", true, false},
	} {
		if got := SparseKeep(pats, tc.rel, tc.dir); got != tc.keep {
			t.Errorf("SparseKeep(%q, dir=%v) = %v, want %v", tc.rel, tc.dir, got, tc.keep)
		}
	}
	if !SparseKeep(nil, "anything", false) {
		t.Error("no patterns must keep everything")
	}
}

func TestGitSourceInBuildingRecipes(t *testing.T) {
	cmmi, _ := Lookup("cmmi")
	b, err := cmmi.Prepare(testCtx(), map[string]string{"repository": "file:///r.git", "revision": commit})
	if err != nil {
		t.Fatal(err)
	}
	s := b.Sources[0]
	if s.Git == nil || s.Git.Repository != "file:///r.git" || s.Git.Revision != commit || s.Dest != SourceDir || !s.Unpack || s.URL != "" || len(s.Sums) != 0 {
		t.Fatalf("cmmi git source = %+v", s)
	}
	if _, err := cmmi.Prepare(testCtx(), map[string]string{"repository": "/r", "url": "http://x/a.tgz", "md5sum": "0123456789abcdef0123456789abcdef"}); err == nil || !strings.Contains(err.Error(), "not several") {
		t.Fatalf("url + repository: %v", err)
	}
	if _, err := cmmi.Prepare(testCtx(), map[string]string{"repository": "/r"}); err == nil || !strings.Contains(err.Error(), "foo:revision") {
		t.Fatalf("no revision: %v", err)
	}

	du, _ := Lookup("download-unpacked")
	b, err = du.Prepare(testCtx(), map[string]string{"repository": "/r", "revision": commit, "destination": "sub"})
	if err != nil {
		t.Fatal(err)
	}
	if s := b.Sources[0]; s.Git == nil || s.Dest != loc+"/sub" || s.Strip != StripFalse {
		t.Fatalf("download-unpacked git source = %+v", s)
	}
	dl, _ := Lookup("download")
	if _, err := dl.Prepare(testCtx(), map[string]string{"repository": "/r", "revision": commit}); err == nil || !strings.Contains(err.Error(), "foo:url") {
		t.Fatalf("download of a repository: %v", err)
	}
}
