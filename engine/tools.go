package engine

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hbuild/hbuild/cache"
	"github.com/hbuild/hbuild/image"
	"github.com/hbuild/hbuild/recipes"
	"github.com/hbuild/hbuild/sandbox"
)

// Fetched is one source of a part in the download cache.
type Fetched struct {
	Part, Option, URL, SHA256 string
}

// Fetch downloads every source of the named parts (all when names is
// empty) into the download cache.
func (e *Engine) Fetch(ctx context.Context, pl *Plan, names []string) ([]Fetched, error) {
	parts := pl.Parts
	if len(names) > 0 {
		var err error
		if parts, err = pl.Closure(names); err != nil {
			return nil, err
		}
	}
	var out []Fetched
	var errs []error
	for _, p := range parts {
		for _, s := range p.Build.Sources {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			e.emit(Event{Kind: EvStep, Part: p.Name, Step: "fetch " + s.Option})
			f := Fetched{Part: p.Name, Option: s.Option, URL: s.URL}
			switch {
			case s.Debian != nil:
				path, err := e.debianSource(ctx, s)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s:%s: %w", p.Name, s.Option, err))
					continue
				}
				f.URL = "debian:" + s.Debian.Name + " " + s.Debian.Version
				f.SHA256 = filepath.Base(path)
			case isLocalDir(s.URL):
				continue
			default:
				got, err := e.fetch(ctx, s)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s:%s: %w", p.Name, s.Option, err))
					continue
				}
				f.SHA256 = got.SHA256
			}
			out = append(out, f)
		}
	}
	return out, errors.Join(errs...)
}

func isLocalDir(u string) bool {
	st, err := os.Stat(strings.TrimPrefix(u, "file://"))
	return err == nil && st.IsDir() && filepath.IsAbs(strings.TrimPrefix(u, "file://"))
}

// ShellOptions are the terminal of `hbuild shell`.
type ShellOptions struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
	Args           []string // default: an interactive shell
}

// Shell opens a shell in the sandbox of a part: the same base, the same
// dependencies and environment, in its source directory. It uses the tree
// kept by --keep-failed when there is one, else fresh sources.
func (e *Engine) Shell(ctx context.Context, pl *Plan, name string, so ShellOptions) error {
	p := pl.Part(name)
	if p == nil {
		_, err := pl.Closure([]string{name})
		return err
	}
	if p.Build.Image != nil {
		return fmt.Errorf("%s is an image; use hbuild run", name)
	}
	if len(p.Deps) > 0 {
		if _, err := e.Build(ctx, pl, p.Deps); err != nil {
			return err
		}
	}
	deps, err := e.deps(ctx, pl, p)
	if err != nil {
		return err
	}
	tc, err := e.Toolchain(ctx)
	if err != nil {
		return err
	}
	b := &PartBuild{Part: p, Plan: pl, Jobs: e.opts.Jobs, Deps: deps, Log: io.Discard, Step: func(string) {}}
	workDir := p.Build.WorkDir
	if build, tree, ok := e.KeptTree(name); ok {
		b.BuildDir, b.Out = build, tree
		if err := os.MkdirAll(tree, 0o755); err != nil {
			return err
		}
		if workDir == "" {
			workDir = recipes.SourceDir
			if ents, err := os.ReadDir(filepath.Join(build, "src")); err == nil && len(ents) == 1 && ents[0].IsDir() {
				workDir = recipes.SourceDir + "/" + ents[0].Name()
			}
		}
	} else {
		tmp, err := os.MkdirTemp(filepath.Join(e.Store.Dir(), "tmp"), "shell-")
		if err != nil {
			return err
		}
		defer removeAll(tmp)
		b.BuildDir, b.Out = filepath.Join(tmp, "build"), filepath.Join(tmp, "tree")
		for _, d := range []string{b.BuildDir, b.Out} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		if workDir, err = e.placeSources(ctx, b); err != nil {
			return err
		}
	}
	if workDir == "" {
		workDir = recipes.BuildDir
	}
	spec := e.spec(tc, b, workDir)
	spec.Args = so.Args
	if len(spec.Args) == 0 {
		spec.Args = []string{"/bin/sh", "-i"}
		if _, err := os.Stat(filepath.Join(tc.Dir, "bin", "bash")); err == nil {
			spec.Args = []string{"/bin/bash", "-i"}
		}
	}
	spec.Stdin, spec.Stdout, spec.Stderr, spec.TTY = so.Stdin, so.Stdout, so.Stderr, so.TTY
	_, err = sandbox.Run(ctx, spec)
	return err
}

// CheckResult is the outcome of rebuilding one part.
type CheckResult struct {
	Part    string
	Key     string
	Stored  string // layer digest in the store
	Rebuilt string // layer digest of the rebuild
	Diffs   []string
}

// checkTZ is the time zone of hbuild check's rebuild: local time is 14
// hours ahead of the UTC of a normal build, so a build that records the
// time of day (or the date, most of the day) in its output differs.
const checkTZ = "<+14>-14"

// Same reports whether the rebuild gave the same layer.
func (c *CheckResult) Same() bool { return c.Stored == c.Rebuilt }

// Check rebuilds the named parts (all when empty) from scratch in a
// varied sandbox (other source directory, hostname, umask, number of jobs
// and CPUs, and a local time of day 14 hours ahead: TZ=<+14>-14, a POSIX
// zone that needs no zoneinfo) and compares the layers with the stored ones.
func (e *Engine) Check(ctx context.Context, pl *Plan, names []string) ([]*CheckResult, error) {
	return e.CheckWith(ctx, pl, names, CheckOptions{})
}

// CheckOptions narrow what Check varies.
type CheckOptions struct {
	// SameSourceDir rebuilds in the usual source directory. Builds that
	// record the path of their sources (C debug information, CPython's
	// sysconfig data and Makefile) differ by it alone; their layers are
	// still the same on every machine, where the path is always the same.
	SameSourceDir bool
}

// CheckWith is Check with options.
func (e *Engine) CheckWith(ctx context.Context, pl *Plan, names []string, o CheckOptions) ([]*CheckResult, error) {
	parts := pl.Parts
	if len(names) > 0 {
		var err error
		if parts, err = pl.Closure(names); err != nil {
			return nil, err
		}
		want := map[string]bool{}
		for _, n := range names {
			want[n] = true
		}
		var sel []*Part
		for _, p := range parts {
			if want[p.Name] {
				sel = append(sel, p)
			}
		}
		if _, err := e.Build(ctx, pl, names); err != nil {
			return nil, err
		}
		parts = sel
	} else if _, err := e.Build(ctx, pl, nil); err != nil {
		return nil, err
	}
	umask := uint32(0o002)
	jobs := 1
	if e.opts.Jobs == 1 {
		jobs = 2
	}
	var out []*CheckResult
	for _, p := range parts {
		if p.Build.Image != nil {
			continue
		}
		ent, err := e.Store.Get(p.Key)
		if err != nil || ent == nil {
			return out, fmt.Errorf("check %s: not in the store after building", p.Name)
		}
		v := buildVariant{hostname: "hbuild-check", umask: &umask, tz: checkTZ, jobs: jobs, cpus: float64(jobs), sourceDir: "/build/check-" + p.Key[:8], noStore: true}
		if o.SameSourceDir {
			v.sourceDir = ""
		}
		bp, err := e.buildPart(ctx, pl, p, jobs, v)
		if err != nil {
			return out, err
		}
		r := &CheckResult{Part: p.Name, Key: p.Key, Stored: ent.Meta.Layer.Digest, Rebuilt: bp.info.Digest}
		if !r.Same() {
			r.Diffs, err = DiffLayers(ent.LayerPath(), bp.pending.LayerPath())
		}
		bp.pending.Abort()
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

type tarEntry struct {
	typ      byte
	mode     int64
	uid, gid int
	mtime    int64
	link     string
	sum      string
	size     int64
	xattrs   string
}

func readLayer(path string) (map[string]*tarEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("read layer %s: %w", path, err)
	}
	tr := tar.NewReader(zr)
	out := map[string]*tarEntry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read layer %s: %w", path, err)
		}
		te := &tarEntry{typ: h.Typeflag, mode: h.Mode, uid: h.Uid, gid: h.Gid, mtime: h.ModTime.Unix(), link: h.Linkname, size: h.Size}
		var xs []string
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				xs = append(xs, k+"="+v)
			}
		}
		sort.Strings(xs)
		te.xattrs = strings.Join(xs, ",")
		if h.Typeflag == tar.TypeReg {
			hs := sha256.New()
			if _, err := io.Copy(hs, tr); err != nil {
				return nil, err
			}
			te.sum = hex.EncodeToString(hs.Sum(nil))
		}
		out[h.Name] = te
	}
}

// DiffLayers names the files that differ between two gzip layers and how
// (content, mode, owner, time, link, type, presence).
func DiffLayers(a, b string) ([]string, error) {
	ea, err := readLayer(a)
	if err != nil {
		return nil, err
	}
	eb, err := readLayer(b)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for n := range ea {
		names[n] = true
	}
	for n := range eb {
		names[n] = true
	}
	var sorted []string
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	var out []string
	for _, n := range sorted {
		x, y := ea[n], eb[n]
		switch {
		case x == nil:
			out = append(out, n+": only in the rebuild")
			continue
		case y == nil:
			out = append(out, n+": only in the stored build")
			continue
		}
		var how []string
		if x.typ != y.typ {
			how = append(how, fmt.Sprintf("type %c -> %c", x.typ, y.typ))
		}
		if x.sum != y.sum {
			how = append(how, fmt.Sprintf("content (%d bytes sha256 %s -> %d bytes sha256 %s)", x.size, short(x.sum), y.size, short(y.sum)))
		}
		if x.mode != y.mode {
			how = append(how, fmt.Sprintf("mode %04o -> %04o", x.mode, y.mode))
		}
		if x.uid != y.uid || x.gid != y.gid {
			how = append(how, fmt.Sprintf("owner %d:%d -> %d:%d", x.uid, x.gid, y.uid, y.gid))
		}
		if x.mtime != y.mtime {
			how = append(how, fmt.Sprintf("time %d -> %d", x.mtime, y.mtime))
		}
		if x.link != y.link {
			how = append(how, fmt.Sprintf("link %q -> %q", x.link, y.link))
		}
		if x.xattrs != y.xattrs {
			how = append(how, fmt.Sprintf("xattrs %q -> %q", x.xattrs, y.xattrs))
		}
		if len(how) > 0 {
			out = append(out, n+": "+strings.Join(how, ", "))
		}
	}
	if len(out) == 0 {
		out = append(out, "same files; the archives differ in encoding")
	}
	return out, nil
}

// RunOptions say how to run a command from an image.
type RunOptions struct {
	Args           []string // default: the image's entrypoint and cmd
	Network        sandbox.Network
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
	Binds          []sandbox.Bind
}

// RunImage runs a command of an image in the sandbox, on a read-only copy
// of its file system (extracted once per image digest into the cache).
func (e *Engine) RunImage(ctx context.Context, ref string, ro RunOptions) (*sandbox.Result, error) {
	img, err := image.Load(ctx, ref)
	if err != nil {
		return nil, err
	}
	return e.RunLoaded(ctx, img, ro)
}

// RunLoaded is RunImage for an image already in memory.
func (e *Engine) RunLoaded(ctx context.Context, img v1.Image, ro RunOptions) (*sandbox.Result, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(e.Store.Dir(), "images", d.Hex, "rootfs")
	if _, err := os.Stat(root); err != nil {
		unlock, err := cache.LockPath(ctx, filepath.Join(e.Store.Dir(), "locks", "image-"+d.Hex+".lock"))
		if err != nil {
			return nil, err
		}
		defer unlock()
		if _, err := os.Stat(root); err != nil {
			tmp, err := os.MkdirTemp(filepath.Join(e.Store.Dir(), "tmp"), "image-")
			if err != nil {
				return nil, err
			}
			if err := image.Extract(img, filepath.Join(tmp, "rootfs")); err != nil {
				removeAll(tmp)
				return nil, err
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Dir(root)), 0o755); err != nil {
				removeAll(tmp)
				return nil, err
			}
			if err := os.Rename(tmp, filepath.Dir(root)); err != nil {
				removeAll(tmp)
				return nil, fmt.Errorf("store extracted image: %w", err)
			}
		}
	}
	args := ro.Args
	if len(args) == 0 {
		args = append(append([]string(nil), cf.Config.Entrypoint...), cf.Config.Cmd...)
	}
	if len(args) == 0 {
		return nil, errors.New("the image has no entrypoint or cmd: give a command after --")
	}
	env := cf.Config.Env
	if len(env) == 0 {
		env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	}
	spec := &sandbox.Spec{
		Lower: []string{root}, Env: env, Dir: cf.Config.WorkingDir, Args: args, Network: ro.Network,
		Stdin: ro.Stdin, Stdout: ro.Stdout, Stderr: ro.Stderr, TTY: ro.TTY, Binds: ro.Binds,
	}
	return sandbox.Run(ctx, spec)
}
