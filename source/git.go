package source

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Git sources are fetched with the host's git executable: it speaks every
// transport users have (file, smart HTTP, ssh with their agent and
// config) and its object store verifies every object's hash as it is
// received. hbuild then exports the commit's tree itself, as a
// deterministic tar it checks against the commit's tree hash, and keeps
// that tar in the CAS keyed by commit, so a second build or an --offline
// one needs neither the network nor the mirror.

// GitOptions tune FetchGit.
type GitOptions struct {
	// Branch is where the revision is looked for first (SlapOS's branch
	// option); with no revision, the branch to use (unpinned).
	Branch string
	// Dest, when set, also receives the tree, as Unpack of the export
	// would write it; when the export is made in this call, in the same
	// pass. On error Dest may hold part of the tree.
	Dest string
}

// GitFetched is a commit's tree, exported as a tar in the CAS.
type GitFetched struct {
	Commit string // full commit hash
	Tree   string // its tree hash, checked against the exported content
	Path   string // the tar in the CAS (read-only); Unpack it
	SHA256 string // of the tar
	Size   int64
	// Pinned is false when the revision was not a full commit hash (a
	// describe form, an abbreviation or, with AllowUnpinned, a branch):
	// the caller should tell the user to pin Commit.
	Pinned bool
	// From says where the commit came from: "cache", "mirror",
	// SharedFrom or the repository (without credentials).
	From string
	// Warnings are problems that did not fail the fetch.
	Warnings []string

	unpacked bool // the export was written to GitOptions.Dest on the way
}

// GitUnpinnedError refuses a branch or tag where a commit is required.
type GitUnpinnedError struct{ Repository, Revision string }

func (e *GitUnpinnedError) Error() string {
	what := fmt.Sprintf("revision %q is not a commit hash", e.Revision)
	if e.Revision == "" {
		what = "no revision"
	}
	return fmt.Sprintf("git %s: %s: pin a full commit hash in revision "+
		"(run with --allow-unpinned to use the branch's current commit and be told its hash)", e.Repository, what)
}

var (
	fullHash   = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)
	abbrevRe   = regexp.MustCompile(`^[0-9a-f]{4,63}$`)
	describeRe = regexp.MustCompile(`^.+-[0-9]+-g([0-9a-f]{4,64})$`)
)

// FetchGit returns the tree of a commit of repo (a URL git understands:
// file://, a local path, http(s) smart protocol, ssh) as a deterministic
// tar in the CAS. revision is a full commit hash (the pin), a git describe
// form or an abbreviated hash that names exactly one commit, or, only with
// AllowUnpinned, a branch or tag. Git objects are kept in bare mirrors
// under GitDir; nothing touches the network when the commit is already in
// the CAS or in the mirror.
func (f *Fetcher) FetchGit(ctx context.Context, repo, revision string, opts GitOptions) (*GitFetched, error) {
	g, err := f.fetchGit(ctx, repo, revision, opts)
	if err != nil {
		return nil, err
	}
	if opts.Dest != "" && !g.unpacked {
		if err := Unpack(g.Path, opts.Dest, UnpackOptions{Name: "git.tar"}); err != nil {
			return nil, fmt.Errorf("git %s: %w", redact(repo), err)
		}
	}
	return g, nil
}

func (f *Fetcher) fetchGit(ctx context.Context, repo, revision string, opts GitOptions) (*GitFetched, error) {
	if f.CAS == nil {
		return nil, errors.New("fetch git: Fetcher has no CAS")
	}
	repo, err := normalizeRepo(repo)
	if err != nil {
		return nil, err
	}
	display := redact(repo)
	revision = strings.TrimSpace(revision)
	rev := strings.ToLower(revision)
	pinned := fullHash.MatchString(rev)
	var abbrev string
	switch {
	case pinned:
	case describeRe.MatchString(revision):
		abbrev = describeRe.FindStringSubmatch(revision)[1]
	case abbrevRe.MatchString(rev):
		abbrev = rev
	default:
		if !f.AllowUnpinned {
			return nil, &GitUnpinnedError{Repository: display, Revision: revision}
		}
	}
	if pinned {
		if g := f.gitFromCache(rev); g != nil {
			return g, nil
		}
	}
	if err := f.checkGitHost(repo); err != nil {
		return nil, err
	}
	m, err := f.mirror(repo)
	if err != nil {
		return nil, err
	}
	unlock, err := f.CAS.lock(ctx, "git-mirror:"+m.dir)
	if err != nil {
		return nil, fmt.Errorf("git %s: %w", display, err)
	}
	defer unlock()
	if pinned {
		if g := f.gitFromCache(rev); g != nil {
			return g, nil
		}
	}
	fresh, err := m.init(ctx)
	if err != nil {
		return nil, err
	}

	var commit, from string
	var warnings []string
	switch {
	case pinned:
		commit, from = rev, "mirror"
		have := !fresh && m.hasCommit(ctx, rev)
		if !have && f.Shared != nil {
			g, err := f.gitFromShared(ctx, rev)
			if err != nil && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if g != nil {
				g.Pinned = true
				return g, nil
			}
			if err != nil {
				// A failed or corrupt shared copy: on to the repository.
				warnings = append(warnings, err.Error())
			}
		}
		if !have {
			if f.Offline {
				return nil, fmt.Errorf("git %s: offline and commit %s is not in the cache%s", display, rev, strings.Join(append([]string{""}, warnings...), "; "))
			}
			from = display
			// Shallow fetch of exactly the commit; servers that refuse
			// an unadvertised want get a full fetch of their refs.
			if _, err := m.git(ctx, "fetch", "--quiet", "--no-tags", "--depth", "1", repo, rev); err != nil {
				if err := m.fetchAll(ctx, opts.Branch); err != nil {
					return nil, err
				}
				if !m.hasCommit(ctx, rev) {
					return nil, fmt.Errorf("git %s: commit %s not found in the repository", display, rev)
				}
			}
		}
	case abbrev != "":
		from = "mirror"
		commit, err = m.resolveAbbrev(ctx, abbrev)
		if err != nil && !f.Offline {
			from = display
			if ferr := m.fetchAll(ctx, opts.Branch); ferr != nil {
				return nil, ferr
			}
			commit, err = m.resolveAbbrev(ctx, abbrev)
		}
		if err != nil {
			return nil, fmt.Errorf("git %s: revision %s: %w", display, revision, err)
		}
		if g := f.gitFromCache(commit); g != nil {
			g.Pinned = false
			return g, nil
		}
	default:
		if f.Offline {
			return nil, fmt.Errorf("git %s: offline: the branch %q cannot be resolved without the network", display, cmp(revision, opts.Branch))
		}
		commit, err = m.fetchRef(ctx, cmp(revision, opts.Branch))
		if err != nil {
			return nil, err
		}
		from = display
	}
	g, err := m.export(ctx, f.CAS, commit, opts.Dest)
	if err != nil {
		return nil, err
	}
	g.Pinned = pinned
	g.From = from
	g.Warnings = warnings
	if w := f.push(ctx, []string{"git:" + commit}, g.Path, g.SHA256); w != "" {
		g.Warnings = append(g.Warnings, w)
	}
	return g, nil
}

// normalizeRepo makes a local path absolute (git runs in the mirror) and
// refuses what git would take as an option.
func normalizeRepo(repo string) (string, error) {
	repo = strings.TrimSpace(repo)
	if repo == "" || strings.HasPrefix(repo, "-") {
		return "", fmt.Errorf("git: bad repository %q", repo)
	}
	if strings.Contains(repo, "://") {
		return repo, nil
	}
	colon, slash := strings.IndexByte(repo, ':'), strings.IndexByte(repo, '/')
	if colon > 0 && (slash < 0 || colon < slash) {
		return repo, nil // scp-like ssh: host:path
	}
	abs, err := filepath.Abs(repo)
	if err != nil {
		return "", fmt.Errorf("git %s: %w", repo, err)
	}
	return abs, nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	if b != "" {
		return b
	}
	return "HEAD"
}

func (f *Fetcher) checkGitHost(repo string) error {
	u, err := url.Parse(repo)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil
	}
	return f.checkHost(u)
}

// gitFromCache returns the exported tree of commit if the CAS has it.
func (f *Fetcher) gitFromCache(commit string) *GitFetched {
	sha, ok := f.CAS.LookupKey("git", commit)
	if !ok {
		return nil
	}
	tree, err := archiveTree(f.CAS.Path(sha))
	if err != nil {
		return nil
	}
	g := &GitFetched{Commit: commit, Tree: tree, Path: f.CAS.Path(sha), SHA256: sha, Pinned: true, From: "cache"}
	if fi, err := os.Stat(g.Path); err == nil {
		g.Size = fi.Size()
	}
	return g
}

// archiveTree reads the tree hash from the global header of an export.
func archiveTree(p string) (string, error) {
	file, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer file.Close()
	h, err := tar.NewReader(file).Next()
	if err != nil {
		return "", err
	}
	if t := h.PAXRecords[paxTree]; t != "" {
		return t, nil
	}
	return "", errors.New("not a git export")
}

type gitMirror struct {
	f    *Fetcher
	repo string
	dir  string
}

func (f *Fetcher) mirror(repo string) (*gitMirror, error) {
	dir := f.GitDir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(f.CAS.Dir()), "git")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("git %s: %w", redact(repo), err)
	}
	return &gitMirror{f: f, repo: repo, dir: filepath.Join(dir, keyOf(repo)[:32]+".git")}, nil
}

func (m *gitMirror) gitPath() string {
	if m.f.Git != "" {
		return m.f.Git
	}
	return "git"
}

// git runs git in the mirror and returns its stdout.
func (m *gitMirror) git(ctx context.Context, args ...string) ([]byte, error) {
	return m.gitIn(ctx, nil, args...)
}

func (m *gitMirror) gitIn(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	all := append([]string{"-C", m.dir, "-c", "protocol.version=2", "-c", "protocol.ext.allow=never", "-c", "gc.auto=0"}, args...)
	cmd := exec.CommandContext(ctx, m.gitPath(), all...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C", "GIT_CONFIG_NOSYSTEM=1")
	cmd.Stdin = stdin
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if m.repo != redact(m.repo) {
			msg = strings.ReplaceAll(msg, m.repo, redact(m.repo))
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return out.Bytes(), fmt.Errorf("git %s: %w: %s", args[0], err, msg)
	}
	return out.Bytes(), nil
}

// init creates the bare mirror if needed (atomically: a crash leaves no
// half-made mirror) and says whether it is new, hence empty.
func (m *gitMirror) init(ctx context.Context) (fresh bool, err error) {
	if _, err := os.Stat(filepath.Join(m.dir, "HEAD")); err == nil {
		return false, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(m.dir), ".init-")
	if err != nil {
		return false, fmt.Errorf("git %s: %w", redact(m.repo), err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, m.gitPath(), "init", "--quiet", "--bare", tmp)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return false, fmt.Errorf("git init %s: %w: %s", m.dir, err, bytes.TrimSpace(out))
	}
	if err := os.Rename(tmp, m.dir); err != nil {
		return false, fmt.Errorf("git %s: %w", redact(m.repo), err)
	}
	return true, nil
}

func (m *gitMirror) hasCommit(ctx context.Context, commit string) bool {
	out, err := m.git(ctx, "cat-file", "-t", commit)
	return err == nil && strings.TrimSpace(string(out)) == "commit"
}

// fetchAll fetches the full history of every branch and tag (and of
// branch, when it is a full ref name outside refs/heads and refs/tags).
func (m *gitMirror) fetchAll(ctx context.Context, branch string) error {
	args := []string{"fetch", "--quiet", "--force", "--prune", "--no-tags"}
	if _, err := os.Stat(filepath.Join(m.dir, "shallow")); err == nil {
		args = append(args, "--unshallow")
	}
	args = append(args, m.repo, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
	if strings.HasPrefix(branch, "refs/") && !strings.HasPrefix(branch, "refs/heads/") && !strings.HasPrefix(branch, "refs/tags/") {
		args = append(args, "+"+branch+":"+branch)
	}
	if _, err := m.git(ctx, args...); err != nil {
		return fmt.Errorf("git %s: %w", redact(m.repo), err)
	}
	return nil
}

// fetchRef fetches the tip of a branch or tag and returns its commit.
func (m *gitMirror) fetchRef(ctx context.Context, ref string) (string, error) {
	cands := []string{ref}
	if ref != "HEAD" && !strings.HasPrefix(ref, "refs/") {
		cands = []string{"refs/heads/" + ref, "refs/tags/" + ref}
	}
	var lastErr error
	for _, c := range cands {
		if _, err := m.git(ctx, "fetch", "--quiet", "--no-tags", "--depth", "1", m.repo, c); err != nil {
			lastErr = err
			continue
		}
		out, err := m.git(ctx, "rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}")
		if err != nil {
			return "", fmt.Errorf("git %s: %s is not a commit: %w", redact(m.repo), ref, err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	return "", fmt.Errorf("git %s: no branch or tag %q: %w", redact(m.repo), ref, lastErr)
}

// resolveAbbrev returns the only commit whose hash starts with abbrev.
func (m *gitMirror) resolveAbbrev(ctx context.Context, abbrev string) (string, error) {
	out, _ := m.git(ctx, "rev-parse", "--disambiguate="+abbrev)
	var commits []string
	for _, h := range strings.Fields(string(out)) {
		if m.hasCommit(ctx, h) {
			commits = append(commits, h)
		}
	}
	switch len(commits) {
	case 0:
		return "", fmt.Errorf("no commit %s in the repository", abbrev)
	case 1:
		return commits[0], nil
	}
	sort.Strings(commits)
	return "", fmt.Errorf("%s is ambiguous: it names the commits %s; pin the full hash", abbrev, strings.Join(commits, ", "))
}

// treeEntry is a line of git ls-tree.
type treeEntry struct {
	mode, typ, hash, path string
}

// export writes the commit's tree as a deterministic tar into the CAS,
// checking every blob's hash and the rebuilt tree hash on the way.
func (m *gitMirror) export(ctx context.Context, c *CAS, commit, dest string) (*GitFetched, error) {
	display := redact(m.repo)
	raw, err := m.git(ctx, "cat-file", "commit", commit)
	if err != nil {
		return nil, fmt.Errorf("git %s: %w", display, err)
	}
	tree, mtime, err := parseCommit(raw)
	if err != nil {
		return nil, fmt.Errorf("git %s: commit %s: %w", display, commit, err)
	}
	out, err := m.git(ctx, "ls-tree", "-r", "-z", "--full-tree", commit)
	if err != nil {
		return nil, fmt.Errorf("git %s: %w", display, err)
	}
	var entries []treeEntry
	for _, rec := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		if rec == "" {
			continue
		}
		meta, p, ok := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 {
			return nil, fmt.Errorf("git %s: unexpected ls-tree line %q", display, rec)
		}
		entries = append(entries, treeEntry{mode: f[0], typ: f[1], hash: f[2], path: p})
	}
	w, err := c.newWriter(nil)
	if err != nil {
		return nil, err
	}
	defer w.abort()
	bw := bufio.NewWriterSize(w, 1<<20) // tar writes headers 512 bytes at a time
	var x *extractor
	if dest != "" {
		if x, err = newExtractor(dest); err != nil {
			return nil, fmt.Errorf("git %s: export %s: %w", display, commit, err)
		}
	}
	err = m.writeTar(ctx, bw, commit, raw, tree, mtime, entries, x)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && x != nil {
		if err = x.finish(); err == nil {
			err = checkLinks(x.root, x.links)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("git %s: export %s: %w", display, commit, err)
	}
	size := w.n
	sha, err := w.commit()
	if err != nil {
		return nil, err
	}
	if err := c.RecordKey("git", commit, sha); err != nil {
		return nil, err
	}
	return &GitFetched{Commit: commit, Tree: tree, Path: c.Path(sha), SHA256: sha, Size: size, unpacked: x != nil}, nil
}

func parseCommit(raw []byte) (tree string, mtime time.Time, err error) {
	for _, line := range strings.Split(string(raw), "\n") {
		if line == "" {
			break
		}
		if t, ok := strings.CutPrefix(line, "tree "); ok {
			tree = t
		}
		if c, ok := strings.CutPrefix(line, "committer "); ok {
			// "Name <email> 1700000000 +0000"
			f := strings.Fields(c)
			if len(f) >= 2 {
				if secs, err := strconv.ParseInt(f[len(f)-2], 10, 64); err == nil {
					mtime = time.Unix(secs, 0).UTC()
				}
			}
		}
	}
	if !fullHash.MatchString(tree) {
		return "", time.Time{}, errors.New("no tree in commit")
	}
	return tree, mtime, nil
}

// writeTar writes the export to w and, when x is set, the tree through x.
func (m *gitMirror) writeTar(ctx context.Context, w io.Writer, commit string, commitObj []byte, tree string, mtime time.Time, entries []treeEntry, x *extractor) error {
	newObjHash := sha1.New
	if len(tree) == 64 {
		newObjHash = sha256.New
	}
	// Stream every blob through one git cat-file --batch.
	var want bytes.Buffer
	for _, e := range entries {
		if e.typ == "blob" {
			want.WriteString(e.hash + "\n")
		}
	}
	cmd := exec.CommandContext(ctx, m.gitPath(), "-C", m.dir, "cat-file", "--batch", "--buffer")
	cmd.Env = append(os.Environ(), "LC_ALL=C", "GIT_CONFIG_NOSYSTEM=1")
	cmd.Stdin = &want
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		stdout.Close()
		cmd.Wait()
	}()
	batch := bufio.NewReaderSize(stdout, 1<<16)

	tw := tar.NewWriter(w)
	hdr := func(h *tar.Header) error {
		h.ModTime = mtime
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if x == nil || h.Typeflag == tar.TypeReg {
			return nil
		}
		return x.add(entry{name: h.Name, kind: h.Typeflag, mode: fs.FileMode(h.Mode).Perm(), mtime: mtime, linkname: h.Linkname})
	}
	// The global header says what this is, as git archive's does, and
	// carries the commit object so that the archive alone can be checked
	// against the commit hash (see verifyGitArchive).
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", Format: tar.FormatPAX,
		PAXRecords: map[string]string{"comment": commit, paxTree: tree, paxCommit: base64.StdEncoding.EncodeToString(commitObj)}}); err != nil {
		return err
	}
	trees := map[string][]gitTreeEnt{"": nil}
	dirOf := func(p string) string {
		if d := path.Dir(p); d != "." {
			return d
		}
		return ""
	}
	var ensureDir func(d string) error
	ensureDir = func(d string) error {
		if _, ok := trees[d]; ok {
			return nil
		}
		if err := ensureDir(dirOf(d)); err != nil {
			return err
		}
		trees[d] = nil
		return hdr(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755})
	}
	var buf []byte
	copyBuf := make([]byte, 256<<10)
	for _, e := range entries {
		if strings.Contains("/"+e.path+"/", "/../") || strings.HasPrefix(e.path, "/") {
			return fmt.Errorf("unsafe path %q in tree", e.path)
		}
		if err := ensureDir(dirOf(e.path)); err != nil {
			return err
		}
		id, err := hex.DecodeString(e.hash)
		if err != nil {
			return fmt.Errorf("bad object id %q for %s", e.hash, e.path)
		}
		trees[dirOf(e.path)] = append(trees[dirOf(e.path)], gitTreeEnt{mode: e.mode, name: path.Base(e.path), id: id})
		switch e.typ {
		case "commit": // a submodule: an empty directory, as git archive does
			if err := hdr(&tar.Header{Typeflag: tar.TypeDir, Name: e.path + "/", Mode: 0o755,
				PAXRecords: map[string]string{paxGitlink: e.hash}}); err != nil {
				return err
			}
			continue
		case "blob":
		default:
			return fmt.Errorf("unexpected %s %s in tree", e.typ, e.path)
		}
		line, err := batch.ReadString('\n')
		if err != nil {
			return fmt.Errorf("cat-file: %w: %s", err, strings.TrimSpace(stderr.String()))
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != e.hash || f[1] != "blob" {
			return fmt.Errorf("cat-file: unexpected %q for %s", strings.TrimSpace(line), e.hash)
		}
		size, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return fmt.Errorf("cat-file: bad size in %q", line)
		}
		oh := newObjHash()
		fmt.Fprintf(oh, "blob %d\x00", size)
		body := io.TeeReader(io.LimitReader(batch, size), oh)
		switch e.mode {
		case "120000":
			if size > 4096 {
				return fmt.Errorf("symlink %s: target too long", e.path)
			}
			if buf, err = io.ReadAll(body); err != nil {
				return err
			}
			if err := hdr(&tar.Header{Typeflag: tar.TypeSymlink, Name: e.path, Linkname: string(buf), Mode: 0o777}); err != nil {
				return err
			}
		case "100644", "100755":
			mode := int64(0o644)
			if e.mode == "100755" {
				mode = 0o755
			}
			if err := hdr(&tar.Header{Typeflag: tar.TypeReg, Name: e.path, Mode: mode, Size: size}); err != nil {
				return err
			}
			if x != nil {
				cr := &countingReader{r: io.TeeReader(body, tw)}
				if err := x.add(entry{name: e.path, kind: tar.TypeReg, mode: fs.FileMode(mode), mtime: mtime, body: cr}); err != nil {
					return err
				}
				if cr.n != size {
					return fmt.Errorf("blob %s: %d of %d bytes", e.path, cr.n, size)
				}
			} else if n, err := io.CopyBuffer(tw, body, copyBuf); err != nil || n != size {
				return fmt.Errorf("blob %s: %d of %d bytes: %v", e.path, n, size, err)
			}
		default:
			return fmt.Errorf("unexpected mode %s for %s", e.mode, e.path)
		}
		if _, err := batch.Discard(1); err != nil { // the newline after the content
			return err
		}
		if got := hex.EncodeToString(oh.Sum(nil)); got != e.hash {
			return fmt.Errorf("blob %s: content hashes to %s, want %s", e.path, got, e.hash)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	// Rebuild the tree objects bottom-up and compare with the commit's.
	if got := treeHash(trees, newObjHash); got != tree {
		return fmt.Errorf("exported content has tree %s, commit %s says %s", got, commit, tree)
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// PAX records of an export.
const (
	paxTree    = "hbuild.git.tree"
	paxCommit  = "hbuild.git.commit"  // base64 of the raw commit object
	paxGitlink = "hbuild.git.gitlink" // on a submodule's directory: its commit
)

// verifyGitArchive checks that an export (from a shared cache, say) is
// exactly the tree of commit: the commit object it carries must hash to
// commit, and its entries must rebuild that object's tree. It returns the
// tree hash.
func verifyGitArchive(r io.Reader, commit string) (string, error) {
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if err != nil {
		return "", fmt.Errorf("read git export: %w", err)
	}
	obj, err := base64.StdEncoding.DecodeString(h.PAXRecords[paxCommit])
	if h.Typeflag != tar.TypeXGlobalHeader || err != nil || len(obj) == 0 {
		return "", errors.New("not a git export: no commit object")
	}
	newObjHash := sha1.New
	if len(commit) == 64 {
		newObjHash = sha256.New
	}
	oh := newObjHash()
	fmt.Fprintf(oh, "commit %d\x00", len(obj))
	oh.Write(obj)
	if got := hex.EncodeToString(oh.Sum(nil)); got != commit {
		return "", fmt.Errorf("git export: commit object hashes to %s, want %s", got, commit)
	}
	tree, _, err := parseCommit(obj)
	if err != nil {
		return "", fmt.Errorf("git export: %w", err)
	}
	trees := map[string][]gitTreeEnt{"": nil}
	dirOf := func(p string) string {
		if d := path.Dir(p); d != "." {
			return d
		}
		return ""
	}
	add := func(name, mode string, id []byte) {
		trees[dirOf(name)] = append(trees[dirOf(name)], gitTreeEnt{mode: mode, name: path.Base(name), id: id})
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("read git export: %w", err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		switch h.Typeflag {
		case tar.TypeDir:
			if gl := h.PAXRecords[paxGitlink]; gl != "" {
				id, err := hex.DecodeString(gl)
				if err != nil {
					return "", fmt.Errorf("git export: bad gitlink %q", gl)
				}
				add(name, "160000", id)
				continue
			}
			if _, ok := trees[name]; !ok {
				trees[name] = nil
			}
		case tar.TypeReg, tar.TypeSymlink:
			bh := newObjHash()
			mode := "100644"
			if h.Typeflag == tar.TypeSymlink {
				mode = "120000"
				fmt.Fprintf(bh, "blob %d\x00%s", len(h.Linkname), h.Linkname)
			} else {
				if h.Mode&0o111 != 0 {
					mode = "100755"
				}
				fmt.Fprintf(bh, "blob %d\x00", h.Size)
				if _, err := io.Copy(bh, tr); err != nil {
					return "", fmt.Errorf("read git export: %w", err)
				}
			}
			add(name, mode, bh.Sum(nil))
		default:
			return "", fmt.Errorf("git export: unexpected entry %s", h.Name)
		}
	}
	if got := treeHash(trees, newObjHash); got != tree {
		return "", fmt.Errorf("git export: content has tree %s, commit %s says %s", got, commit, tree)
	}
	return tree, nil
}

// gitTreeEnt is an entry of a tree object being rebuilt.
type gitTreeEnt struct {
	mode, name string
	id         []byte
}

// treeHash hashes the rebuilt tree objects, deepest first, adding each
// directory's hash to its parent; it returns the root's.
func treeHash(trees map[string][]gitTreeEnt, newHash func() hash.Hash) string {
	dirs := make([]string, 0, len(trees))
	for d := range trees {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	depth := func(d string) int { return strings.Count(d, "/") }
	sort.Slice(dirs, func(i, j int) bool {
		if depth(dirs[i]) != depth(dirs[j]) {
			return depth(dirs[i]) > depth(dirs[j])
		}
		return dirs[i] < dirs[j]
	})
	objHash := func(d string) []byte {
		ents := trees[d]
		// git orders a directory as its name followed by "/".
		key := func(e gitTreeEnt) string {
			if e.mode == "40000" {
				return e.name + "/"
			}
			return e.name
		}
		sort.Slice(ents, func(i, j int) bool { return key(ents[i]) < key(ents[j]) })
		var content bytes.Buffer
		for _, e := range ents {
			content.WriteString(e.mode + " " + e.name + "\x00")
			content.Write(e.id)
		}
		h := newHash()
		fmt.Fprintf(h, "tree %d\x00", content.Len())
		h.Write(content.Bytes())
		return h.Sum(nil)
	}
	for _, d := range dirs {
		parent := path.Dir(d)
		if parent == "." {
			parent = ""
		}
		trees[parent] = append(trees[parent], gitTreeEnt{mode: "40000", name: path.Base(d), id: objHash(d)})
	}
	return hex.EncodeToString(objHash(""))
}
