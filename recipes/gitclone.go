package recipes

import (
	"path"
	"strings"
)

// The gitclone recipe (slapos.recipe.build:gitclone): the part's location
// holds the tree of one commit of a git repository.
//
// Options:
//   - repository: the repository (file://, a local path, http(s), ssh).
//   - revision: the commit. A full hash is the pin; a git describe form
//     (v1.2-195-g3f2ed59) or an abbreviation is accepted when it names one
//     commit, and the build warns with the full hash to pin.
//   - branch: where the revision is looked for first. A branch without a
//     revision is refused unless hbuild runs with --allow-unpinned.
//   - location: computed by hbuild (@@LOCATION@@ or left out).
//   - sparse-checkout: patterns, one per line; only the paths they match
//     are kept (see SparseKeep).
//   - git-executable: accepted and ignored: hbuild fetches git itself,
//     outside the sandbox, with the host's git.
//   - develop: accepted and ignored: the location is always a plain tree
//     of the commit, without a .git directory, so that it is reproducible.
//   - shared: the part goes to the shared parts directory.
//
// The engine fetches the commit once per (repository, commit), checks the
// tree against the commit's tree hash and places it at the location; the
// part key holds the full commit hash. Other parts use the tree through
// ${name:location}.

func init() {
	register(&Recipe{
		Name:    "gitclone",
		Version: "1",
		Aliases: []string{"slapos.recipe.build:gitclone"},
		Summary: "the tree of a pinned git commit as the part (slapos.recipe.build:gitclone; git-executable and develop are ignored)",
		Prepare: prepareGitClone,
		Ignored: map[string]string{
			"git-executable": "ignored: hbuild fetches git sources itself, outside the sandbox, with the host's git",
			"develop":        "ignored: the location is always a plain tree of the commit, without .git, so that it is reproducible",
		},
	})
}

func prepareGitClone(ctx *Context, in map[string]string) (*Build, error) {
	if err := checkLocation(ctx, in); err != nil {
		return nil, err
	}
	for _, o := range []string{"shared", "develop"} {
		if _, err := boolOpt(ctx, in, o, false); err != nil {
			return nil, err
		}
	}
	opts := replaceLocation(in, ctx.Location)
	if strings.TrimSpace(opts["repository"]) == "" {
		return nil, optErr(ctx, "repository", "missing: the git repository to check out")
	}
	src, err := gitSource(ctx, opts, ctx.Location, StripFalse)
	if err != nil {
		return nil, err
	}
	sparse := lines(opts["sparse-checkout"])
	for _, p := range sparse {
		if strings.HasPrefix(p, "!") || strings.Contains(p, "**") {
			return nil, optErr(ctx, "sparse-checkout", "pattern %q: hbuild keeps paths equal to, under or matching (shell glob per path element) a pattern; negation and ** are not supported", p)
		}
		if _, err := path.Match(strings.Trim(p, "/"), ""); err != nil {
			return nil, optErr(ctx, "sparse-checkout", "pattern %q: %v", p, err)
		}
	}
	src.Git.Sparse = sparse
	return &Build{Sources: []Source{*src}}, nil
}

// gitSource reads repository, revision and branch into a Source unpacked
// at dest. Its Option is "revision": pinning is what fails most.
func gitSource(ctx *Context, opts map[string]string, dest, strip string) (*Source, error) {
	g := &GitSource{
		Repository: strings.TrimSpace(opts["repository"]),
		Revision:   strings.TrimSpace(opts["revision"]),
		Branch:     strings.TrimSpace(opts["branch"]),
	}
	if strings.ContainsAny(g.Revision, " \t\n") {
		return nil, optErr(ctx, "revision", "%q: write one commit hash", g.Revision)
	}
	if g.Revision == "" && g.Branch == "" {
		return nil, optErr(ctx, "revision", "missing: pin the commit of %s with revision = FULL-COMMIT-HASH", g.Repository)
	}
	if !strings.Contains(g.Repository, "://") && !strings.Contains(g.Repository, "@") && !path.IsAbs(g.Repository) {
		g.Repository = path.Join(ctx.BaseDir, g.Repository) // a local path, relative to the profile
	}
	return &Source{Option: "revision", Git: g, Dest: dest, Unpack: true, Strip: strip}, nil
}

// SparseKeep reports whether rel (a slash-separated path in the tree,
// without a leading slash) is kept by the sparse-checkout patterns: a path
// is kept when it equals a pattern, lies under one, or is a directory
// leading to one; patterns match element by element with path.Match
// ("src/*.c"). A leading or trailing slash in a pattern is ignored. No
// patterns keeps everything.
func SparseKeep(patterns []string, rel string, dir bool) bool {
	if len(patterns) == 0 {
		return true
	}
	re := strings.Split(strings.Trim(rel, "/"), "/")
	for _, p := range patterns {
		pe := strings.Split(strings.Trim(p, "/"), "/")
		n := min(len(pe), len(re))
		ok := true
		for i := 0; i < n; i++ {
			if m, _ := path.Match(pe[i], re[i]); !m {
				ok = false
				break
			}
		}
		if ok && (len(re) >= len(pe) || dir) {
			return true
		}
	}
	return false
}
