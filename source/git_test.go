package source

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hbuild/hbuild/internal/testutil"
)

// gitRepo is a repository made in the test.
type gitRepo struct {
	t   *testing.T
	dir string
	env []string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	testutil.RequireTool(t, "git")
	home := t.TempDir()
	r := &gitRepo{t: t, dir: filepath.Join(t.TempDir(), "repo"), env: append(os.Environ(),
		"HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=A", "GIT_AUTHOR_EMAIL=a@example.invalid",
		"GIT_COMMITTER_NAME=A", "GIT_COMMITTER_EMAIL=a@example.invalid",
		"GIT_AUTHOR_DATE=2020-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2020-01-02T03:04:05Z")}
	r.git("init", "-q", "-b", "main", r.dir)
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	if args[0] != "init" {
		cmd.Args = append([]string{"git", "-C", r.dir}, args...)
	}
	cmd.Env = r.env
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		r.t.Fatalf("git %v: %v: %s", args, err, stderr.String())
	}
	return strings.TrimSpace(out.String())
}

func (r *gitRepo) write(rel, content string, mode os.FileMode) {
	r.t.Helper()
	p := filepath.Join(r.dir, rel)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		r.t.Fatal(err)
	}
	os.Chmod(p, mode)
}

// commit commits everything and returns the commit hash.
func (r *gitRepo) commit(msg string) string {
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// sampleGitRepo has two commits, a tag on the first, a symlink, an
// executable, nested directories, and names that test git's tree order.
func sampleGitRepo(t *testing.T) (r *gitRepo, first, second string) {
	r = newGitRepo(t)
	r.write("README", "one\n", 0o644)
	r.write("configure", "#!/bin/sh\n", 0o755)
	r.write("src/a.c", "int a;\n", 0o644)
	r.write("src/deep/er/b.c", "int b;\n", 0o644)
	r.write("src.c", "x\n", 0o644)   // sorts after "src/" in git order
	r.write("src-x/c", "c\n", 0o644) // sorts before "src/"
	os.Symlink("src/a.c", filepath.Join(r.dir, "link"))
	first = r.commit("first")
	r.git("tag", "v1.0")
	r.write("README", "two\n", 0o644)
	second = r.commit("second")
	return r, first, second
}

func gitFetcher(t *testing.T, gitDir string) *Fetcher {
	f := newTestFetcher(t)
	f.GitDir = gitDir
	return f
}

func TestFetchGitPinned(t *testing.T) {
	r, first, second := sampleGitRepo(t)
	gitDir := t.TempDir()
	f := gitFetcher(t, gitDir)
	for _, repo := range []string{"file://" + r.dir, r.dir} {
		t.Run(repo, func(t *testing.T) {
			f := gitFetcher(t, t.TempDir())
			g, err := f.FetchGit(context.Background(), repo, first, GitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if g.Commit != first || g.Tree != r.git("rev-parse", first+"^{tree}") || !g.Pinned || g.From != repo {
				t.Fatalf("GitFetched = %+v", g)
			}
		})
	}
	g, err := f.FetchGit(context.Background(), "file://"+r.dir, first, GitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "tree")
	if err := Unpack(g.Path, dest, UnpackOptions{Name: "x.tar"}); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{"README": "one\n", "src/deep/er/b.c": "int b;\n", "link": "int a;\n", "src-x/c": "c\n"} {
		if b, err := os.ReadFile(filepath.Join(dest, rel)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", rel, b, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "configure")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("configure: %v %v", fi, err)
	}
	if l, _ := os.Readlink(filepath.Join(dest, "link")); l != "src/a.c" {
		t.Errorf("link -> %q", l)
	}
	if ents, _ := os.ReadDir(dest); len(ents) != 6 {
		t.Errorf("tree has %d top entries, want 6 (no .git)", len(ents))
	}

	// Again: from the CAS, no git at all.
	g2, err := f.FetchGit(context.Background(), "file://"+r.dir, first, GitOptions{})
	if err != nil || g2.From != "cache" || g2.SHA256 != g.SHA256 || g2.Tree != g.Tree {
		t.Fatalf("second fetch: %+v %v", g2, err)
	}
	// A new CAS, same mirrors: from the mirror, byte-identical.
	f3 := gitFetcher(t, gitDir)
	f3.Offline = true
	g3, err := f3.FetchGit(context.Background(), "file://"+r.dir, first, GitOptions{})
	if err != nil || g3.From != "mirror" || g3.SHA256 != g.SHA256 {
		t.Fatalf("from mirror: %+v %v", g3, err)
	}
	// Another clone of the same history gives the same bytes.
	clone := filepath.Join(t.TempDir(), "clone")
	r.git("clone", "-q", "--bare", r.dir, clone)
	g4, err := gitFetcher(t, t.TempDir()).FetchGit(context.Background(), clone, first, GitOptions{})
	if err != nil || g4.SHA256 != g.SHA256 {
		t.Fatalf("from a clone: %+v %v (want sha256 %s)", g4, err, g.SHA256)
	}
	// The second commit is another tree.
	g5, err := f.FetchGit(context.Background(), "file://"+r.dir, second, GitOptions{})
	if err != nil || g5.Commit != second || g5.SHA256 == g.SHA256 {
		t.Fatalf("second commit: %+v %v", g5, err)
	}
}

func TestFetchGitRevisions(t *testing.T) {
	r, first, second := sampleGitRepo(t)
	repo := "file://" + r.dir
	describe := r.git("describe", "--tags", "--long", "--abbrev=9", second)
	missing := strings.Repeat("0", 40)
	cases := []struct {
		name     string
		revision string
		branch   string
		unpinned bool
		want     string
		pinned   bool
		err      string
	}{
		{"full hash", first, "", false, first, true, ""},
		{"upper case hash", strings.ToUpper(first), "", false, first, true, ""},
		{"describe", describe, "", false, second, false, ""},
		{"abbreviated", second[:10], "", false, second, false, ""},
		{"missing commit", missing, "", false, "", false, "commit " + missing + " not found"},
		{"missing abbreviation", "0000000", "", false, "", false, "no commit 0000000"},
		{"branch refused", "main", "", false, "", false, "--allow-unpinned"},
		{"no revision refused", "", "main", false, "", false, "no revision"},
		{"tag refused", "v1.0", "", false, "", false, "is not a commit hash"},
		{"branch allowed", "main", "", true, second, false, ""},
		{"branch option allowed", "", "main", true, second, false, ""},
		{"tag allowed", "v1.0", "", true, first, false, ""},
		{"no such branch", "nope", "", true, "", false, `no branch or tag "nope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := gitFetcher(t, t.TempDir())
			f.AllowUnpinned = tc.unpinned
			g, err := f.FetchGit(context.Background(), repo, tc.revision, GitOptions{Branch: tc.branch})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				var ue *GitUnpinnedError
				if strings.Contains(tc.err, "allow-unpinned") && !errors.As(err, &ue) {
					t.Errorf("err is %T, want *GitUnpinnedError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.Commit != tc.want || g.Pinned != tc.pinned {
				t.Fatalf("Commit %s Pinned %v, want %s %v", g.Commit, g.Pinned, tc.want, tc.pinned)
			}
		})
	}
}

func TestFetchGitAmbiguous(t *testing.T) {
	r := newGitRepo(t)
	// Many commits made with fast-import (fixed content, so fixed hashes)
	// until two share a 4-digit prefix.
	var in bytes.Buffer
	for i := 0; i < 1500; i++ {
		msg := fmt.Sprintf("c%d", i)
		fmt.Fprintf(&in, "commit refs/heads/main\ncommitter A <a@example.invalid> 1577934245 +0000\ndata %d\n%s\n", len(msg), msg)
	}
	cmd := exec.Command("git", "-C", r.dir, "fast-import", "--quiet")
	cmd.Env = r.env
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fast-import: %v: %s", err, out)
	}
	seen := map[string]string{}
	var prefix string
	var pair [2]string
	for _, c := range strings.Fields(r.git("rev-list", "--all")) {
		if o, ok := seen[c[:4]]; ok {
			prefix, pair = c[:4], [2]string{o, c}
			break
		}
		seen[c[:4]] = c
	}
	if prefix == "" {
		t.Fatal("fixture: no two commits share a 4-digit prefix")
	}
	f := gitFetcher(t, t.TempDir())
	_, err := f.FetchGit(context.Background(), "file://"+r.dir, prefix, GitOptions{})
	if err == nil || !strings.Contains(err.Error(), "ambiguous") || !strings.Contains(err.Error(), pair[0]) || !strings.Contains(err.Error(), pair[1]) {
		t.Fatalf("err = %v, want ambiguous naming %s and %s", err, pair[0], pair[1])
	}
	// A longer prefix picks one.
	g, err := f.FetchGit(context.Background(), "file://"+r.dir, pair[1][:12], GitOptions{})
	if err != nil || g.Commit != pair[1] {
		t.Fatalf("got %+v %v", g, err)
	}
}

func TestFetchGitForcePushed(t *testing.T) {
	r, first, _ := sampleGitRepo(t)
	repo := "file://" + r.dir
	gitDir := t.TempDir()
	pinned := r.git("rev-parse", "main")
	if _, err := gitFetcher(t, gitDir).FetchGit(context.Background(), repo, pinned, GitOptions{Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	// Rewrite main: the pinned commit disappears upstream.
	r.git("reset", "-q", "--hard", first)
	r.write("README", "rewritten\n", 0o644)
	rewritten := r.commit("rewritten")
	r.git("tag", "-d", "v1.0")
	r.git("reflog", "expire", "--expire=now", "--all")
	r.git("gc", "-q", "--prune=now")
	// The mirror still has it: the pin wins over the branch.
	g, err := gitFetcher(t, gitDir).FetchGit(context.Background(), repo, pinned, GitOptions{Branch: "main"})
	if err != nil || g.Commit != pinned || g.From != "mirror" {
		t.Fatalf("pinned after force push: %+v %v", g, err)
	}
	// Without the mirror the commit cannot be found any more.
	_, err = gitFetcher(t, t.TempDir()).FetchGit(context.Background(), repo, pinned, GitOptions{Branch: "main"})
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("err = %v, want not found", err)
	}
	// And the branch, unpinned, is the rewritten commit.
	f := gitFetcher(t, gitDir)
	f.AllowUnpinned = true
	if g, err = f.FetchGit(context.Background(), repo, "", GitOptions{Branch: "main"}); err != nil || g.Commit != rewritten {
		t.Fatalf("branch: %+v %v, want %s", g, err, rewritten)
	}
}

func TestFetchGitOffline(t *testing.T) {
	r, first, _ := sampleGitRepo(t)
	f := gitFetcher(t, t.TempDir())
	f.Offline = true
	_, err := f.FetchGit(context.Background(), "file://"+r.dir, first, GitOptions{})
	if err == nil || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("err = %v, want offline", err)
	}
	f.AllowUnpinned = true
	_, err = f.FetchGit(context.Background(), "file://"+r.dir, "main", GitOptions{})
	if err == nil || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("err = %v, want offline", err)
	}
}

func TestFetchGitVerifiesContent(t *testing.T) {
	r, first, _ := sampleGitRepo(t)
	gitDir := t.TempDir()
	f := gitFetcher(t, gitDir)
	if _, err := f.FetchGit(context.Background(), "file://"+r.dir, first, GitOptions{}); err != nil {
		t.Fatal(err)
	}
	// Replace a loose blob of the mirror by other content under its name.
	blob := r.git("rev-parse", first+":src/a.c")
	m, _ := f.mirror("file://" + r.dir)
	obj := filepath.Join(m.dir, "objects", blob[:2], blob[2:])
	if _, err := os.Stat(obj); err != nil {
		cmd := exec.Command("git", "-C", m.dir, "unpack-objects", "-q")
		packs, _ := filepath.Glob(filepath.Join(m.dir, "objects", "pack", "*.pack"))
		if len(packs) != 1 {
			t.Fatalf("mirror has neither the loose object nor one pack: %v", err)
		}
		os.Rename(packs[0], packs[0]+".old")
		in, _ := os.Open(packs[0] + ".old")
		cmd.Stdin = in
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("unpack-objects: %v %s", err, out)
		}
		in.Close()
		for _, p := range []string{packs[0] + ".old", strings.TrimSuffix(packs[0], ".pack") + ".idx"} {
			os.Remove(p)
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	fmt.Fprintf(zw, "blob 7\x00int X;\n")
	zw.Close()
	os.Chmod(obj, 0o644)
	if err := os.WriteFile(obj, z.Bytes(), 0o444); err != nil {
		t.Fatal(err)
	}
	f2 := gitFetcher(t, gitDir)
	_, err := f2.FetchGit(context.Background(), "file://"+r.dir, first, GitOptions{})
	if err == nil || !strings.Contains(err.Error(), "content hashes to") {
		t.Fatalf("err = %v, want a content hash error", err)
	}
	if _, ok := f2.CAS.LookupKey("git", first); ok {
		t.Fatal("a corrupt export was recorded")
	}
}

func TestFetchGitSmartHTTP(t *testing.T) {
	r, first, second := sampleGitRepo(t)
	root := t.TempDir()
	r.git("clone", "-q", "--bare", r.dir, filepath.Join(root, "repo.git"))
	execPath := r.git("--exec-path")
	backend := filepath.Join(execPath, "git-http-backend")
	testutil.Require(t, fileExists(backend), "git-http-backend in "+execPath)
	srv := httptest.NewServer(&cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}})
	t.Cleanup(srv.Close)
	repo := srv.URL + "/repo.git"
	f := gitFetcher(t, t.TempDir())
	g, err := f.FetchGit(context.Background(), repo, first, GitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Commit != first || g.From != repo {
		t.Fatalf("GitFetched = %+v", g)
	}
	local, err := gitFetcher(t, t.TempDir()).FetchGit(context.Background(), r.dir, first, GitOptions{})
	if err != nil || local.SHA256 != g.SHA256 {
		t.Fatalf("file and http exports differ: %+v %v", local, err)
	}
	g, err = f.FetchGit(context.Background(), repo, r.git("describe", "--tags", "--long", second), GitOptions{})
	if err != nil || g.Commit != second {
		t.Fatalf("describe over http: %+v %v", g, err)
	}
	f2 := gitFetcher(t, t.TempDir())
	f2.AllowHosts = []string{"*.example.org"}
	_, err = f2.FetchGit(context.Background(), repo, first, GitOptions{})
	var hna *HostNotAllowedError
	if !errors.As(err, &hna) {
		t.Fatalf("err = %v, want HostNotAllowedError", err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestFetchGitBadRepository(t *testing.T) {
	f := gitFetcher(t, t.TempDir())
	for _, repo := range []string{"--upload-pack=touch /tmp/x", ""} {
		if _, err := f.FetchGit(context.Background(), repo, strings.Repeat("a", 40), GitOptions{}); err == nil || !strings.Contains(err.Error(), "bad repository") {
			t.Errorf("%q: err = %v", repo, err)
		}
	}
}

// treeListing describes every entry under dir: path, mode, mtime and
// content or link target.
func treeListing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		what := ""
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			what, _ = os.Readlink(p)
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			what = string(b)
		}
		mt := fi.ModTime().Unix()
		if rel == "." {
			mt = 0 // the destination itself is not from the archive
		}
		out = append(out, fmt.Sprintf("%s %v %d %q", rel, fi.Mode(), mt, what))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFetchGitDest(t *testing.T) {
	r, first, _ := sampleGitRepo(t)
	r.write("sub/x", "x\n", 0o755)
	second := r.commit("third")
	gitDir := t.TempDir()
	for _, commit := range []string{first, second} {
		f := gitFetcher(t, gitDir)
		fused := filepath.Join(t.TempDir(), "fused")
		g, err := f.FetchGit(context.Background(), "file://"+r.dir, commit, GitOptions{Dest: fused})
		if err != nil || !g.unpacked {
			t.Fatalf("fused: %+v %v", g, err)
		}
		plain := filepath.Join(t.TempDir(), "plain")
		if err := Unpack(g.Path, plain, UnpackOptions{Name: "x.tar"}); err != nil {
			t.Fatal(err)
		}
		// From the cache: Dest is filled by Unpack.
		cached := filepath.Join(t.TempDir(), "cached")
		g2, err := f.FetchGit(context.Background(), "file://"+r.dir, commit, GitOptions{Dest: cached})
		if err != nil || g2.From != "cache" || g2.unpacked {
			t.Fatalf("cached: %+v %v", g2, err)
		}
		want := treeListing(t, plain)
		if len(want) < 8 {
			t.Fatalf("tree too small: %v", want)
		}
		for name, dir := range map[string]string{"fused": fused, "cached": cached} {
			got := treeListing(t, dir)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s tree differs from Unpack of the export:\n%s\nwant:\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	}
}
