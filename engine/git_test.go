package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/hbuild/hbuild/cache"
	"github.com/hbuild/hbuild/internal/testutil"
	"github.com/hbuild/hbuild/profile"
	"github.com/hbuild/hbuild/source"
)

// gitRepo is a repository made in the test: a tiny C project whose
// program prints its version, and a data directory; one commit per
// version.
type gitRepo struct {
	dir     string
	commits []string // by version, from 1
}

func newGitRepo(t *testing.T, versions ...string) *gitRepo {
	t.Helper()
	testutil.RequireTool(t, "git")
	r := &gitRepo{dir: filepath.Join(t.TempDir(), "repo")}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", r.dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+r.dir, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t", "GIT_AUTHOR_DATE=2020-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2020-01-01T00:00:00Z")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	git("init", "-q", "-b", "master")
	for _, v := range versions {
		files := map[string]string{
			"configure": "#!/bin/sh\nfor a; do case $a in --prefix=*) p=${a#--prefix=};; esac; done\nprintf 'PREFIX=%s\\n' \"$(echo \"$p\" | tr -d '\"')\" > config.mk\n",
			"Makefile":  "include config.mk\nhello: hello.c\n\t$(CC) -O2 -o hello hello.c\ninstall: hello\n\tmkdir -p $(PREFIX)/bin\n\tcp hello $(PREFIX)/bin/\n",
			"hello.c":   fmt.Sprintf("#include <stdio.h>\nint main(void) { puts(\"hello from git %s\"); return 0; }\n", v),
			"data/msg":  "message " + v + "\n",
		}
		for name, content := range files {
			p := filepath.Join(r.dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			mode := os.FileMode(0o644)
			if name == "configure" {
				mode = 0o755
			}
			if err := os.WriteFile(p, []byte(content), mode); err != nil {
				t.Fatal(err)
			}
		}
		git("add", "-A")
		git("commit", "-q", "-m", v)
		r.commits = append(r.commits, git("rev-parse", "HEAD"))
	}
	return r
}

// gitProfile: prog is built with cmmi from the repository at ${revs:prog};
// src is the data directory of the same repository (gitclone with a
// sparse checkout); tool uses both.
func gitProfile(t *testing.T, r *gitRepo, extra string) string {
	return writeProfile(t, map[string]string{
		"hbuild.cfg": fmt.Sprintf(`
[buildout]
parts = img tool
%[3]s

[revs]
prog = %[2]s

[prog]
recipe = slapos.recipe.cmmi
repository = file://%[1]s
revision = ${revs:prog}

[src]
recipe = slapos.recipe.build:gitclone
repository = file://%[1]s
revision = %[2]s
git-executable = /no/such/git
sparse-checkout = data

[tool]
recipe = build
script =
  mkdir -p $location
  cp ${src:location}/data/msg $location/msg
  test -x ${prog:location}/bin/hello

[img]
recipe = oci-image
parts = prog
entrypoint = hello
`, r.dir, r.commits[0], extra),
		"v2.cfg": fmt.Sprintf("[buildout]\nextends = hbuild.cfg\n[revs]\nprog = %s\n", r.commits[1]),
	})
}

func eventLines(ev *eventLog, kind EventKind) string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var b strings.Builder
	for _, e := range ev.evs {
		if e.Kind == kind {
			fmt.Fprintf(&b, "%s: %s\n", e.Part, e.Line)
		}
	}
	return b.String()
}

func TestGitSourcesBuildPinOverride(t *testing.T) {
	r := newGitRepo(t, "v1", "v2")
	path := gitProfile(t, r, "")
	e, ev := realEngine(t, t.TempDir(), Options{Jobs: 2})
	ctx := context.Background()
	pl := planReal(t, e, path)
	res, err := e.Build(ctx, pl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Built, " ") != "prog src tool" || len(res.Images) != 1 {
		t.Fatalf("built %v images %v", res.Built, res.Images)
	}
	// The binary built from the git source runs.
	img, err := e.Image(ctx, pl, pl.Part("img"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := e.RunLoaded(ctx, img, RunOptions{Args: []string{"hello"}, Stdout: &out, Stderr: &out}); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if out.String() != "hello from git v1\n" {
		t.Fatalf("output %q", out.String())
	}
	// gitclone's location holds the sparse tree, used by tool.
	src, _ := e.Store.Get(pl.Part("src").Key)
	if b, err := os.ReadFile(filepath.Join(src.Tree(), "data", "msg")); err != nil || string(b) != "message v1\n" {
		t.Fatalf("src data/msg %q %v", b, err)
	}
	if fileExists(filepath.Join(src.Tree(), "Makefile")) || fileExists(filepath.Join(src.Tree(), ".git")) {
		t.Fatal("sparse-checkout = data kept more than data")
	}
	tool, _ := e.Store.Get(pl.Part("tool").Key)
	if b, err := os.ReadFile(filepath.Join(tool.Tree(), "msg")); err != nil || string(b) != "message v1\n" {
		t.Fatalf("tool msg %q %v", b, err)
	}
	if pl.Part("prog").SourceIDs[0] != "git:"+r.commits[0] {
		t.Fatalf("prog source id %q", pl.Part("prog").SourceIDs[0])
	}
	if logs := eventLines(ev, EvLog); !strings.Contains(logs, "prog: source revision: git file://"+r.dir+" commit "+r.commits[0]) {
		t.Fatalf("the log does not say where prog's source came from:\n%s", logs)
	}

	// Overriding the revision through extends changes prog's key and
	// rebuilds prog and what needs it, not src.
	pl2 := planReal(t, e, filepath.Join(filepath.Dir(path), "v2.cfg"))
	if pl2.Part("prog").Key == pl.Part("prog").Key || pl2.Part("src").Key != pl.Part("src").Key {
		t.Fatal("the revision override must change prog's key and only what depends on it")
	}
	res, err = e.Build(ctx, pl2, []string{"prog", "tool", "src"})
	if err != nil || strings.Join(res.Built, " ") != "prog tool" || strings.Join(res.Cached, " ") != "src" {
		t.Fatalf("after the override: %+v %v", res, err)
	}
	prog2, _ := e.Store.Get(pl2.Part("prog").Key)
	if b, err := os.ReadFile(filepath.Join(prog2.Tree(), "bin", "hello")); err != nil || !bytes.Contains(b, []byte("hello from git v2")) {
		t.Fatalf("prog at v2: %v", err)
	}

	// An abbreviation resolves to the commit, which the key holds, and
	// a warning gives the full hash to pin.
	pl3 := planReal(t, e, path, "revs:prog="+r.commits[0][:10])
	if id := pl3.Part("prog").SourceIDs[0]; id != "git:"+r.commits[0] {
		t.Fatalf("abbreviated revision: source id %q", id)
	}
	if w := eventLines(ev, EvWarning); !strings.Contains(w, "pin it with revision = "+r.commits[0]) {
		t.Fatalf("no warning with the full hash:\n%s", w)
	}
	// So does a git describe form.
	pl4 := planReal(t, e, path, "revs:prog=v1-1-g"+r.commits[1][:7])
	if id := pl4.Part("prog").SourceIDs[0]; id != "git:"+r.commits[1] {
		t.Fatalf("describe revision: source id %q", id)
	}
	if w := eventLines(ev, EvWarning); !strings.Contains(w, "pin it with revision = "+r.commits[1]) {
		t.Fatalf("no warning with the full hash of the describe form:\n%s", w)
	}
	// An abbreviation that names no commit is an error naming the part.
	if _, err := e.Plan(ctx, path, PlanOptions{Load: profile.LoadOptions{IgnoreUserDefaults: true, Overrides: []string{"revs:prog=deadbeef"}}}); err == nil || !strings.Contains(err.Error(), "prog:revision") {
		t.Fatalf("unknown abbreviation: %v", err)
	}

	// A branch without a revision is refused, naming the part and option.
	_, err = e.Plan(ctx, path, PlanOptions{Load: profile.LoadOptions{IgnoreUserDefaults: true, Overrides: []string{"prog:revision=", "prog:branch=master"}}})
	if err == nil || !strings.Contains(err.Error(), "prog:revision") || !strings.Contains(err.Error(), "pin a full commit hash") {
		t.Fatalf("branch without revision: %v", err)
	}
}

// A machine with an empty download cache and no route to the repository
// builds offline from the shared source cache in a registry: Debian's
// docker-registry on loopback.
func TestGitSourcesOfflineFromSharedCache(t *testing.T) {
	r := newGitRepo(t, "v1", "v2")
	host := testutil.StartRegistry(t)
	path := gitProfile(t, r, "source-cache = "+host+"/hbuild/sources")
	ctx := context.Background()

	a, _ := realEngine(t, t.TempDir(), Options{Jobs: 2})
	var err error
	if a.Remote, err = cache.OpenRemote(host+"/hbuild/cache", cache.RemoteOptions{Insecure: true, Keychain: authn.NewMultiKeychain()}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Build(ctx, planReal(t, a, path), []string{"prog", "src"}); err != nil {
		t.Fatal(err)
	}
	// The repository goes away; machine B is offline, with an empty cache
	// directory and a shared part cache that has nothing.
	if err := os.Rename(r.dir, r.dir+".gone"); err != nil {
		t.Fatal(err)
	}
	b, ev := realEngine(t, t.TempDir(), Options{Jobs: 2, Offline: true})
	if b.Remote, err = cache.OpenRemote(host+"/hbuild/machine-b", cache.RemoteOptions{Insecure: true, Keychain: authn.NewMultiKeychain()}); err != nil {
		t.Fatal(err)
	}
	res, err := b.Build(ctx, planReal(t, b, path), []string{"prog", "src"})
	if err != nil || strings.Join(res.Built, " ") != "prog src" {
		t.Fatalf("offline build: %+v %v\n%s", res, err, eventLines(ev, EvLog))
	}
	// Both parts need the same commit: the first takes it from the
	// registry, the other finds it in the download cache then.
	logs := eventLines(ev, EvLog)
	if !strings.Contains(logs, fmt.Sprintf("source revision: git file://%s commit %s from %s", r.dir, r.commits[0], source.SharedFrom)) {
		t.Errorf("the log does not say the source came from the registry:\n%s", logs)
	}
	if strings.Contains(logs, "from file://") {
		t.Errorf("a source came from the repository:\n%s", logs)
	}
}

// [buildout] source-cache and source-cache-push wire the fetcher to the
// shared source cache; without them the part cache's repository is used.
func TestGitSharedSourcesSettings(t *testing.T) {
	load := func(buildout string) *Plan {
		t.Helper()
		path := writeProfile(t, map[string]string{"hbuild.cfg": "[buildout]\nparts =\n" + buildout})
		prof, err := profile.Load(path, profile.LoadOptions{IgnoreUserDefaults: true, Directory: DefaultDirectory})
		if err != nil {
			t.Fatal(err)
		}
		return &Plan{Profile: prof}
	}
	remote, err := cache.OpenRemote("127.0.0.1:1/parts", cache.RemoteOptions{Insecure: true, Keychain: authn.NewMultiKeychain()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		buildout string
		remote   *cache.Remote
		ref      string // "" = no shared source cache
		noPush   bool
		err      string
	}{
		{"", nil, "", false, ""},
		{"", remote, "127.0.0.1:1/parts", false, ""},
		{"source-cache = 127.0.0.1:1/sources\nsource-cache-push = false", remote, "127.0.0.1:1/sources", true, ""},
		{"source-cache = registry.invalid/sources", nil, "registry.invalid/sources", false, ""},
		{"source-cache = nohost", nil, "", false, "REGISTRY/REPO"},
		{"source-cache-push = perhaps", remote, "", false, "source-cache-push"},
	} {
		e := &Engine{Fetcher: &source.Fetcher{}, Remote: tc.remote}
		err := e.sharedSources(load(tc.buildout))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.buildout, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.buildout, err)
		}
		got := ""
		if rs, ok := e.Fetcher.Shared.(*cache.RemoteSources); ok {
			got = rs.Ref()
		} else if e.Fetcher.Shared != nil {
			t.Fatalf("%q: Shared is %T", tc.buildout, e.Fetcher.Shared)
		}
		if got != tc.ref || e.Fetcher.NoPush != tc.noPush {
			t.Errorf("%q: shared %q noPush %v, want %q %v", tc.buildout, got, e.Fetcher.NoPush, tc.ref, tc.noPush)
		}
	}
}
