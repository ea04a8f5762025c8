package engine

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hbuild/hbuild/cache"
	"github.com/hbuild/hbuild/recipes"
	"github.com/hbuild/hbuild/source"
)

// Git sources: the part key holds the full commit hash ("git:<commit>"),
// resolved while planning when the profile gives a describe form or an
// abbreviation; the build fetches exactly that commit.

var fullCommit = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)

// gitSourceID is the identity of a git source in the part key. A revision
// that is not a full hash needs resolve (the engine's, which fetches).
func gitSourceID(s recipes.Source, resolve func(recipes.Source) (string, error)) (string, error) {
	rev := strings.ToLower(strings.TrimSpace(s.Git.Revision))
	if fullCommit.MatchString(rev) {
		return "git:" + rev, nil
	}
	if resolve == nil {
		return "", fmt.Errorf("revision %q is not a full commit hash: pin the commit (hbuild build resolves a git describe form and prints the hash)", s.Git.Revision)
	}
	return resolve(s)
}

// gitSourceIDs resolves the git sources whose revision is not a full hash
// by fetching them (FetchGit applies the pinning rules: a describe form or
// an abbreviation naming one commit, a branch only with --allow-unpinned)
// and warns with the hash to pin; other sources go to next.
func (e *Engine) gitSourceIDs(ctx context.Context, next func(recipes.Source) (string, error)) func(recipes.Source) (string, error) {
	return func(s recipes.Source) (string, error) {
		if s.Git == nil {
			if next == nil {
				return sourceID(s, nil) // its error: the source has no checksum
			}
			return next(s)
		}
		g, err := e.Fetcher.FetchGit(ctx, s.Git.Repository, s.Git.Revision, source.GitOptions{Branch: s.Git.Branch})
		if err != nil {
			return "", err
		}
		what := fmt.Sprintf("revision %q", s.Git.Revision)
		if s.Git.Revision == "" {
			what = fmt.Sprintf("branch %q", s.Git.Branch)
		}
		e.emit(Event{Kind: EvWarning, Line: fmt.Sprintf("git %s: %s is commit %s: pin it with revision = %s", redactRepo(s.Git.Repository), what, g.Commit, g.Commit)})
		return "git:" + g.Commit, nil
	}
}

// placeGit puts the tree of a git source's commit (the one in the part
// key) at dest, keeps what its sparse-checkout patterns match, and says in
// the log where the commit came from.
func (e *Engine) placeGit(ctx context.Context, b *PartBuild, i int, s recipes.Source, dest string) error {
	commit, ok := strings.CutPrefix(b.Part.SourceIDs[i], "git:")
	if !ok {
		return fmt.Errorf("git source identified as %q, not by a commit", b.Part.SourceIDs[i])
	}
	g, err := e.Fetcher.FetchGit(ctx, s.Git.Repository, commit, source.GitOptions{Branch: s.Git.Branch, Dest: dest})
	if err != nil {
		return err
	}
	e.note(b, fmt.Sprintf("source %s: git %s commit %s from %s", s.Option, redactRepo(s.Git.Repository), g.Commit, g.From))
	for _, w := range g.Warnings {
		e.emit(Event{Kind: EvWarning, Part: b.Part.Name, Line: w})
	}
	if err := sparse(dest, s.Git.Sparse); err != nil {
		return err
	}
	return strip(dest, s.Strip)
}

// note writes a line to the part's log and reports it as a log event.
func (e *Engine) note(b *PartBuild, line string) {
	fmt.Fprintln(b.Log, line)
	e.emit(Event{Kind: EvLog, Part: b.Part.Name, Line: line})
}

// sparse removes from dir what the sparse-checkout patterns do not keep.
func sparse(dir string, patterns []string) error {
	if len(patterns) == 0 {
		return nil
	}
	var drop, dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case !recipes.SparseKeep(patterns, rel, d.IsDir()):
			drop = append(drop, p)
			if d.IsDir() {
				return fs.SkipDir
			}
		case d.IsDir():
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sparse-checkout: %w", err)
	}
	for _, p := range drop {
		if err := removeAll(p); err != nil {
			return fmt.Errorf("sparse-checkout: %w", err)
		}
	}
	// Directories kept only as the way to a pattern that matched nothing
	// inside them go too, deepest first.
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, p := range dirs {
		if ents, err := os.ReadDir(p); err == nil && len(ents) == 0 {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("sparse-checkout: %w", err)
			}
		}
	}
	return nil
}

// redactRepo drops the credentials of a repository URL.
func redactRepo(repo string) string {
	u, err := url.Parse(repo)
	if err != nil || u.User == nil || u.Scheme == "" {
		return repo
	}
	if _, hasPw := u.User.Password(); hasPw || u.Scheme != "ssh" {
		u.User = nil
	}
	return u.String()
}

// sharedSources points the fetcher at the shared source cache: [buildout]
// source-cache = REGISTRY/REPO, else the shared part cache's repository
// (hbuild-cache), opened with the part cache's settings (insecure,
// credentials, mode). [buildout] source-cache-push = false stops pushing.
func (e *Engine) sharedSources(pl *Plan) error {
	if e.Fetcher.Shared != nil || pl.Profile == nil {
		return nil
	}
	opt := func(name string) (string, error) {
		if _, ok := pl.Profile.Raw("buildout", name); !ok {
			return "", nil
		}
		v, err := pl.Profile.Get("buildout", name)
		return strings.TrimSpace(v), err
	}
	ref, err := opt("source-cache")
	if err != nil {
		return err
	}
	push, err := opt("source-cache-push")
	if err != nil {
		return err
	}
	if push != "" {
		p, err := recipes.ParseBool(push, true)
		if err != nil {
			return fmt.Errorf("[buildout] source-cache-push: %w", err)
		}
		e.Fetcher.NoPush = !p
	}
	var rs *cache.RemoteSources
	switch {
	case e.Remote != nil:
		rs, err = e.Remote.Sources(ref)
	case ref != "":
		rs, err = cache.OpenRemoteSources(ref, cache.RemoteOptions{})
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("[buildout] source-cache: %w", err)
	}
	e.Fetcher.Shared = rs
	return nil
}
