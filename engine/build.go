package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hbuild/hbuild/cache"
	"github.com/hbuild/hbuild/image"
	"github.com/hbuild/hbuild/policy"
	"github.com/hbuild/hbuild/recipes"
	"github.com/hbuild/hbuild/sandbox"
	"github.com/hbuild/hbuild/source"
	"github.com/hbuild/hbuild/source/debian"
)

// PartBuild is one part being built: what BuildPart gets.
type PartBuild struct {
	Part     *Part
	Plan     *Plan
	Jobs     int          // its share of the CPU tokens: MAKEFLAGS=-jJobs
	Out      string       // host directory seen at the part's location (its output)
	BuildDir string       // host directory seen at /build
	Deps     []*DepTree   // every part it needs, transitively, in dependency order
	Log      io.Writer    // its build log
	Step     func(string) // report the step that starts
	Hostname string       // "" = hbuild
	Umask    *uint32      // nil = 022
	TZ       string       // "" = UTC; hbuild check shifts the local time of day
	CPUs     float64      // CPU limit of the sandbox (0 = Options.Limits)
	Warnings []string     // filled by the build

	report []byte // policy report (JSON)
}

// DepTree is a built dependency.
type DepTree struct {
	Name, Location string
	Entry          *cache.Entry
}

// PartError is a failed part: which step, how, where its log is.
type PartError struct {
	Kept     string // where --keep-failed kept its sandbox tree
	Part     string
	Step     string
	ExitCode int
	Log      string
	Tail     []string
	// Missing is what the build looked for and did not find (headers,
	// libraries, *-config programs), read from its log.
	Missing []Missing
	Err     error
}

func (e *PartError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "part %s failed", e.Part)
	if e.Step != "" {
		fmt.Fprintf(&b, " in step %s", e.Step)
	}
	if e.ExitCode != 0 {
		fmt.Fprintf(&b, " (exit status %d)", e.ExitCode)
	}
	var ee *sandbox.ExitError
	if errors.As(e.Err, &ee) {
		b.WriteString("\n")
	} else {
		fmt.Fprintf(&b, ": %v\n", e.Err)
	}
	if e.Log != "" {
		fmt.Fprintf(&b, "  log: %s\n", e.Log)
	}
	if e.Kept != "" {
		fmt.Fprintf(&b, "  sandbox tree kept at %s; hbuild shell %s opens it\n", e.Kept, e.Part)
	}
	if len(e.Tail) > 0 {
		b.WriteString("  last lines:\n")
		for _, l := range e.Tail {
			b.WriteString("    " + l + "\n")
		}
	}
	if len(e.Missing) > 0 {
		b.WriteString("  not in the sandbox (which holds only the build base and the declared parts):\n")
		for _, m := range e.Missing {
			b.WriteString("    " + m.String() + "\n")
		}
		b.WriteString("  build what is missing as a part and reference it from this part's options (for example ${PART:location}/include and /lib)\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func (e *PartError) Unwrap() error { return e.Err }

// Result is what a build did.
type Result struct {
	Built    []string
	Cached   []string
	Failed   map[string]error
	Images   []ImageResult
	Duration time.Duration
}

// ImageResult is one assembled image.
type ImageResult struct {
	Part    string
	Digest  string
	Outputs []string
}

// BuildError is returned when parts failed.
type BuildError struct{ Failed map[string]error }

// Unwrap returns the failures.
func (e *BuildError) Unwrap() []error {
	var out []error
	for _, n := range sortedErrKeys(e.Failed) {
		out = append(out, e.Failed[n])
	}
	return out
}

func sortedErrKeys(m map[string]error) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (e *BuildError) Error() string {
	var names []string
	for n, err := range e.Failed {
		if !IsSkipped(err) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 1 {
		return e.Failed[names[0]].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d parts failed:", len(names))
	for _, n := range names {
		b.WriteString("\n" + e.Failed[n].Error())
	}
	return b.String()
}

// Build builds the named parts (all when targets is empty) and their
// dependencies, and assembles the images among them.
func (e *Engine) Build(ctx context.Context, pl *Plan, targets []string) (*Result, error) {
	start := time.Now()
	parts := pl.Parts
	if len(targets) > 0 {
		var err error
		if parts, err = pl.Closure(targets); err != nil {
			return nil, err
		}
	}
	res := &Result{Failed: map[string]error{}}
	var mu sync.Mutex
	for _, p := range parts {
		e.emit(Event{Kind: EvQueued, Part: p.Name, Key: p.Key})
	}
	if err := e.sharedSources(pl); err != nil {
		return nil, err
	}
	e.prefetch(ctx, parts)
	failed := schedule(ctx, parts, e.opts.Jobs, e.opts.KeepGoing, func(ctx context.Context, p *Part, share int) error {
		if p.Build.Rootfs != nil {
			_, err := e.rootfsPart(ctx, p)
			if err != nil {
				e.emit(Event{Kind: EvFailed, Part: p.Name, Key: p.Key, Err: err})
			}
			return err
		}
		if p.Build.Image != nil {
			ir, err := e.assemble(ctx, pl, p)
			if err != nil {
				e.emit(Event{Kind: EvFailed, Part: p.Name, Key: p.Key, Err: err})
				return err
			}
			mu.Lock()
			res.Images = append(res.Images, *ir)
			mu.Unlock()
			return nil
		}
		built, err := e.ensure(ctx, pl, p, share)
		if err != nil {
			return err
		}
		mu.Lock()
		if built {
			res.Built = append(res.Built, p.Name)
		} else {
			res.Cached = append(res.Cached, p.Name)
		}
		mu.Unlock()
		return nil
	})
	e.pushes.Wait() // pushes only warn, but finish them before returning
	res.Failed = failed
	res.Duration = time.Since(start)
	sort.Strings(res.Built)
	sort.Strings(res.Cached)
	sort.Slice(res.Images, func(i, j int) bool { return res.Images[i].Part < res.Images[j].Part })
	if len(failed) > 0 {
		return res, &BuildError{Failed: failed}
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("build canceled: %w", err)
	}
	return res, nil
}

// ensure makes sure the part is in the store; built reports whether this
// process built it.
func (e *Engine) ensure(ctx context.Context, pl *Plan, p *Part, share int) (built bool, err error) {
	if ent, _ := e.Store.Get(p.Key); ent != nil {
		e.Store.Touch(ent)
		e.emit(Event{Kind: EvCached, Part: p.Name, Key: p.Key})
		return false, nil
	}
	unlock, err := e.Store.Lock(ctx, p.Key)
	if err != nil {
		return false, err
	}
	defer unlock()
	if ent, _ := e.Store.Get(p.Key); ent != nil { // another process built it meanwhile
		e.emit(Event{Kind: EvCached, Part: p.Name, Key: p.Key})
		return false, nil
	}
	bp, err := e.buildPart(ctx, pl, p, share, buildVariant{})
	if err == nil {
		e.push(ctx, p, bp.entry)
	}
	return err == nil, err
}

// prefetch looks every part missing from the store up in the shared cache
// at once and pulls the hits, so that ensure finds them in the store. A
// failure of the shared cache is a warning: those parts are built here.
func (e *Engine) prefetch(ctx context.Context, parts []*Part) {
	if e.Remote == nil || !e.Remote.Reads() {
		return
	}
	names := map[string]string{}
	var keys []string
	for _, p := range parts {
		if p.Build.Image != nil || p.Build.Rootfs != nil {
			continue
		}
		names[p.Key] = p.Name
		keys = append(keys, p.Key)
	}
	_, ws := e.Remote.Prefetch(ctx, e.Store, keys)
	for _, w := range ws {
		line := w.Error() + ": building it here"
		if w.Key == "" {
			line = w.Error() + ": building without it"
		}
		e.emit(Event{Kind: EvWarning, Part: names[w.Key], Key: w.Key, Line: line})
	}
}

// push sends a part this process built to the shared cache, in the
// background; Build waits for it. A failure is a warning.
func (e *Engine) push(ctx context.Context, p *Part, ent *cache.Entry) {
	if e.Remote == nil || !e.Remote.Writes() || ent == nil {
		return
	}
	e.pushes.Add(1)
	go func() {
		defer e.pushes.Done()
		if err := e.Remote.Push(ctx, ent.Key, ent.LayerPath(), ent.Meta); err != nil {
			e.emit(Event{Kind: EvWarning, Part: p.Name, Key: p.Key, Line: "remote cache: " + err.Error()})
		}
	}()
}

// buildVariant varies the environment of a build (hbuild check).
type buildVariant struct {
	hostname  string
	umask     *uint32
	tz        string  // TZ of the steps: another local time of day
	cpus      float64 // CPU bandwidth limit of the sandbox
	jobs      int
	sourceDir string // replaces recipes.SourceDir
	noStore   bool   // build into a temporary entry, do not commit
}

// deps returns the transitive dependencies of p, built, in plan order.
// A dependency pulled from a registry without its tree (deferred trees)
// is unpacked here, once.
func (e *Engine) deps(ctx context.Context, pl *Plan, p *Part) ([]*DepTree, error) {
	closure, err := pl.Closure([]string{p.Name})
	if err != nil {
		return nil, err
	}
	var out []*DepTree
	for _, d := range closure {
		if d.Name == p.Name || d.Build.Image != nil || d.Build.Rootfs != nil {
			continue
		}
		ent, err := e.Store.Get(d.Key)
		if err != nil {
			return nil, err
		}
		if ent == nil {
			return nil, fmt.Errorf("dependency %s of %s is not built", d.Name, p.Name)
		}
		if err := e.Store.EnsureTree(ctx, ent); err != nil {
			return nil, fmt.Errorf("dependency %s of %s: %w", d.Name, p.Name, err)
		}
		out = append(out, &DepTree{Name: d.Name, Location: d.Location, Entry: ent})
	}
	return out, nil
}

// buildPart builds p into a new store entry (or, for a check, a
// temporary one that the caller must Abort) and returns it.
func (e *Engine) buildPart(ctx context.Context, pl *Plan, p *Part, share int, v buildVariant) (*builtPart, error) {
	start := time.Now()
	e.emit(Event{Kind: EvStarted, Part: p.Name, Key: p.Key})
	logPath := e.Store.LogPath(p.Name, p.Key)
	if v.noStore {
		logPath = strings.TrimSuffix(logPath, ".log") + "-check.log"
	}
	step := "prepare"
	kept := ""
	fail := func(err error) (*builtPart, error) {
		pe := &PartError{Part: p.Name, Step: step, Log: logPath, Err: err, Kept: kept}
		var ee *sandbox.ExitError
		if errors.As(err, &ee) {
			pe.ExitCode, pe.Tail = ee.ExitCode, ee.Tail
			pe.Missing = diagnoseLog(logPath, "/")
		}
		var already *PartError
		if errors.As(err, &already) {
			pe = already
		}
		e.emit(Event{Kind: EvFailed, Part: p.Name, Key: p.Key, Step: pe.Step, ExitCode: pe.ExitCode, Tail: pe.Tail, Log: logPath, Err: pe, Duration: time.Since(start)})
		return nil, pe
	}
	deps, err := e.deps(ctx, pl, p)
	if err != nil {
		return fail(err)
	}
	pending, err := e.Store.Create(p.Key)
	if err != nil {
		return fail(err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		pending.Abort()
		return fail(fmt.Errorf("create log: %w", err))
	}
	lw := &lineWriter{w: logf, line: func(l string) { e.emit(Event{Kind: EvLog, Part: p.Name, Line: l}) }}
	buildDir := filepath.Join(pending.Dir(), "build")
	if err := os.MkdirAll(buildDir, 0o755); err != nil {
		pending.Abort()
		logf.Close()
		return fail(err)
	}
	jobs := share
	if v.jobs > 0 {
		jobs = v.jobs
	}
	b := &PartBuild{
		Part: p, Plan: pl, Jobs: jobs, Out: pending.Tree(), BuildDir: buildDir, Deps: deps, Log: lw,
		Step: func(s string) {
			step = s
			fmt.Fprintf(lw, "==> %s\n", s)
			e.emit(Event{Kind: EvStep, Part: p.Name, Step: s})
		},
		Hostname: v.hostname, Umask: v.umask, TZ: v.tz, CPUs: v.cpus,
	}
	if v.sourceDir != "" {
		b.Part = remapSourceDir(p, v.sourceDir)
	}
	err = e.opts.BuildPart(ctx, b)
	lw.Flush()
	if err == nil {
		b.Step("verify")
		err = e.verify(pl, b)
	}
	var info *image.LayerInfo
	if err == nil {
		b.Step("layer")
		info, err = image.WriteLayerFile(ctx, b.Out, pending.LayerPath(), image.LayerOptions{Prefix: strings.TrimPrefix(p.Location, "/")})
	}
	if cerr := logf.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write log: %w", cerr)
	}
	if err != nil {
		if e.opts.KeepFailed && ctx.Err() == nil {
			if k, kerr := e.keep(pending.Dir(), "failed", p.Name); kerr == nil {
				kept = k
			}
		}
		pending.Abort()
		return fail(err)
	}
	for _, w := range b.Warnings {
		e.emit(Event{Kind: EvWarning, Part: p.Name, Line: w})
	}
	if p.Build.KeepCompileDir && !v.noStore {
		if _, err := e.keep(pending.Dir(), "kept", p.Name); err != nil {
			pending.Abort()
			return fail(err)
		}
	} else if err := removeAll(buildDir); err != nil {
		pending.Abort()
		return fail(err)
	}
	if v.noStore {
		return &builtPart{pending: pending, info: info}, nil
	}
	meta := e.meta(pl, p, deps, info, time.Since(start), b.Warnings)
	if rep, ok := b.policyReport(); ok {
		meta.Policy = rep
	}
	ent, err := pending.Commit(meta)
	if err != nil {
		return fail(err)
	}
	e.emit(Event{Kind: EvDone, Part: p.Name, Key: p.Key, Duration: time.Since(start), Log: logPath})
	return &builtPart{entry: ent, info: info}, nil
}

type builtPart struct {
	entry   *cache.Entry
	pending *cache.Pending
	info    *image.LayerInfo
}

func (e *Engine) meta(pl *Plan, p *Part, deps []*DepTree, info *image.LayerInfo, d time.Duration, warnings []string) *cache.Meta {
	m := &cache.Meta{
		Part: p.Name, Recipe: p.Recipe.Name, RecipeVersion: p.Recipe.Version, Format: image.FormatVersion,
		Location: p.Location, Options: redactOptions(p.Options), Deps: map[string]string{}, Base: pl.BaseDigest, Platform: pl.Platform,
		Layer: cache.Layer{Digest: info.Digest, DiffID: info.DiffID, Size: info.Size, MediaType: info.MediaType},
		Built: time.Now().UTC(), Duration: d.Seconds(), Warnings: warnings,
	}
	for _, dn := range p.Deps {
		m.Deps[dn] = pl.Part(dn).Key
	}
	for i, s := range p.Build.Sources {
		cs := cache.Source{Option: s.Option, URL: s.URL, Dest: s.Dest, SHA256: p.SourceIDs[i]}
		if s.Debian != nil {
			cs.URL = "debian:" + s.Debian.Name + " " + s.Debian.Version
		}
		if s.Git != nil {
			cs.URL = "git:" + redactRepo(s.Git.Repository)
		}
		for _, c := range s.Sums {
			cs.Sums = append(cs.Sums, c.Algo+":"+c.Hex)
		}
		m.Sources = append(m.Sources, cs)
	}
	return m
}

// keep moves a build's scratch directory to <cache>/<kind>/<part>.
func (e *Engine) keep(dir, kind, part string) (string, error) {
	dst := filepath.Join(e.Store.Dir(), kind, strings.ReplaceAll(part, "/", "_"))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	if err := removeAll(dst); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	for _, sub := range []string{"build", "tree"} {
		if _, err := os.Lstat(filepath.Join(dir, sub)); err != nil {
			continue
		}
		if kind == "kept" && sub == "tree" {
			continue // the tree goes to the store
		}
		if err := os.Rename(filepath.Join(dir, sub), filepath.Join(dst, sub)); err != nil {
			return "", fmt.Errorf("keep %s: %w", sub, err)
		}
	}
	return dst, nil
}

// KeptTree returns the kept sandbox of a failed part, if any.
func (e *Engine) KeptTree(part string) (build, tree string, ok bool) {
	dst := filepath.Join(e.Store.Dir(), "failed", strings.ReplaceAll(part, "/", "_"))
	if st, err := os.Stat(filepath.Join(dst, "build")); err == nil && st.IsDir() {
		return filepath.Join(dst, "build"), filepath.Join(dst, "tree"), true
	}
	return "", "", false
}

func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// remapSourceDir returns a copy of p whose main sources unpack under dir
// instead of recipes.SourceDir.
func remapSourceDir(p *Part, dir string) *Part {
	q := *p
	b := *p.Build
	b.Sources = append([]recipes.Source(nil), p.Build.Sources...)
	for i := range b.Sources {
		if inside(b.Sources[i].Dest, recipes.SourceDir) {
			b.Sources[i].Dest = dir + strings.TrimPrefix(b.Sources[i].Dest, recipes.SourceDir)
		}
	}
	q.Build = &b
	return &q
}

func inside(p, dir string) bool {
	p, dir = path.Clean(p), path.Clean(dir)
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// hostPath maps a sandbox path under /build or the part's location to the
// host.
func (b *PartBuild) hostPath(p string) (string, error) {
	switch {
	case inside(p, recipes.BuildDir):
		return filepath.Join(b.BuildDir, strings.TrimPrefix(path.Clean(p), recipes.BuildDir)), nil
	case inside(p, b.Part.Location):
		return filepath.Join(b.Out, strings.TrimPrefix(path.Clean(p), b.Part.Location)), nil
	}
	return "", fmt.Errorf("%s is neither under /build nor under the part's location %s", p, b.Part.Location)
}

// policyReport is filled by verify.
func (b *PartBuild) policyReport() ([]byte, bool) {
	if b.report == nil {
		return nil, false
	}
	return b.report, true
}

// verify checks promises and the ELF policy of the output.
func (e *Engine) verify(pl *Plan, b *PartBuild) error {
	p := b.Part
	for _, pr := range p.Build.Promises {
		hp, err := b.hostPath(pr)
		if err != nil {
			b.Warnings = append(b.Warnings, fmt.Sprintf("promise %s: %v", pr, err))
			continue
		}
		if _, err := os.Lstat(hp); err != nil {
			b.Warnings = append(b.Warnings, fmt.Sprintf("could not find promise %q", pr))
		}
	}
	if p.Build.FixShebangs {
		if err := fixShebangs(b.Out); err != nil {
			return err
		}
	}
	opts, err := policyOptions(pl, p)
	if err != nil {
		return err
	}
	var deps []policy.Tree
	for _, d := range b.Deps {
		deps = append(deps, policy.Tree{Dir: d.Entry.Tree(), Path: d.Location})
	}
	// The runtime is glibc's sonames as policy knows them: a part may need
	// nothing else of the base.
	rep, err := policy.CheckPart(policy.Tree{Dir: b.Out, Path: p.Location}, deps, policy.Tree{}, opts)
	if err != nil {
		return err
	}
	var js strings.Builder
	if err := rep.JSON(&js); err == nil {
		b.report = []byte(js.String())
	}
	if len(rep.Violations) > 0 && rep.OK() {
		for _, v := range rep.Violations {
			b.Warnings = append(b.Warnings, "policy: "+v.String())
		}
	}
	if !rep.OK() {
		var t strings.Builder
		_ = rep.Text(&t)
		return fmt.Errorf("ELF policy: %w\n%s", rep.Err(), strings.TrimSpace(t.String()))
	}
	return nil
}

// policyOptions layers a part's policy-* options over [hbuild-policy].
func policyOptions(pl *Plan, p *Part) (policy.Options, error) {
	opts := policy.DefaultOptions()
	if pl.Profile != nil && pl.Profile.Has("hbuild-policy") {
		sec, err := pl.Profile.Resolve("hbuild-policy")
		if err != nil {
			return opts, err
		}
		if opts, err = policy.FromSection(func(o string) (string, bool) { v, ok := sec[o]; return v, ok }); err != nil {
			return opts, fmt.Errorf("[hbuild-policy]: %w", err)
		}
	}
	o, err := opts.Apply("policy-", func(o string) (string, bool) { v, ok := p.Options[o]; return v, ok })
	if err != nil {
		return o, fmt.Errorf("%s: %w", p.Name, err)
	}
	return o, nil
}

// lineWriter copies to w and reports complete lines.
type lineWriter struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	line func(string)
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.w.Write(p)
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			break
		}
		l.line(strings.TrimRight(string(l.buf[:i]), "\r"))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 {
		l.line(string(l.buf))
		l.buf = l.buf[:0]
	}
	return n, err
}

// Flush reports a last incomplete line.
func (l *lineWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.line(string(l.buf))
		l.buf = nil
	}
}

// fixShebangs wraps scripts in bin/ and sbin/ whose #! line is too long
// for the kernel, as slapos.recipe.cmmi does.
func fixShebangs(out string) error {
	for _, d := range []string{"bin", "sbin"} {
		ents, err := os.ReadDir(filepath.Join(out, d))
		if err != nil {
			continue
		}
		for _, de := range ents {
			if !de.Type().IsRegular() {
				continue
			}
			p := filepath.Join(out, d, de.Name())
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			head := make([]byte, 128)
			n, _ := io.ReadFull(f, head)
			f.Close()
			head = head[:n]
			if n < 2 || string(head[:2]) != "#!" || strings.IndexByte(string(head), '\n') >= 0 {
				continue
			}
			info, err := os.Stat(p)
			if err != nil {
				return err
			}
			if err := os.Rename(p, p+".shebang"); err != nil {
				return err
			}
			wrapper := "#!/bin/sh\n# the #! line of NAME.shebang is too long for the kernel\nread -r l < \"$0.shebang\"\nexec ${l#??} \"$0.shebang\" \"$@\"\n"
			if err := os.WriteFile(p, []byte(wrapper), info.Mode().Perm()); err != nil {
				return fmt.Errorf("wrap %s: %w", p, err)
			}
		}
	}
	return nil
}

// buildInSandbox is the real BuildPart: fetch and place the sources, write
// the files, run the steps in the sandbox.
func (e *Engine) buildInSandbox(ctx context.Context, b *PartBuild) error {
	tc, err := e.Toolchain(ctx)
	if err != nil {
		return err
	}
	b.Step("fetch")
	workDir, err := e.placeSources(ctx, b)
	if err != nil {
		return err
	}
	for _, f := range b.Part.Build.Files {
		hp, err := b.hostPath(f.Path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(hp, f.Content, fs.FileMode(f.Mode)); err != nil {
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
		if err := os.Chmod(hp, fs.FileMode(f.Mode)); err != nil {
			return err
		}
	}
	for _, st := range b.Part.Build.Steps {
		b.Step(st.Name)
		fmt.Fprintf(b.Log, "+ %s\n", strings.ReplaceAll(st.Script, "\n", "\n+ "))
		spec := e.spec(tc, b, workDir)
		spec.Args = []string{"/bin/sh", "-e", "-c", st.Script}
		spec.Stdout, spec.Stderr = b.Log, b.Log
		if _, err := sandbox.Run(ctx, spec); err != nil {
			return err
		}
	}
	return nil
}

// spec is the sandbox of a part's steps.
func (e *Engine) spec(tc *Base, b *PartBuild, workDir string) *sandbox.Spec {
	env := Env(b.Plan.Directory)
	env["MAKEFLAGS"] = fmt.Sprintf("-j%d", b.Jobs)
	for _, kv := range b.Part.Build.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if b.TZ != "" {
		env["TZ"] = b.TZ
	}
	spec := &sandbox.Spec{
		Lower:    []string{tc.Dir},
		Env:      envList(env),
		Dir:      workDir,
		Hostname: b.Hostname,
		Limits:   e.opts.Limits,
		Umask:    b.Umask,
	}
	if b.CPUs > 0 {
		spec.Limits.CPUs = b.CPUs
	}
	for _, d := range b.Deps {
		spec.Binds = append(spec.Binds, sandbox.Bind{Source: d.Entry.Tree(), Dest: d.Location, ReadOnly: true})
	}
	spec.Binds = append(spec.Binds,
		sandbox.Bind{Source: b.Out, Dest: b.Part.Location},
		sandbox.Bind{Source: b.BuildDir, Dest: recipes.BuildDir})
	return spec
}

func envList(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// placeSources fetches every source and puts it where the recipe asked;
// it returns the steps' working directory in the sandbox.
func (e *Engine) placeSources(ctx context.Context, b *PartBuild) (string, error) {
	workDir := b.Part.Build.WorkDir
	for i, s := range b.Part.Build.Sources {
		dest, err := b.hostPath(s.Dest)
		if err != nil {
			return "", fmt.Errorf("%s: %w", s.Option, err)
		}
		if s.Git != nil {
			err = e.placeGit(ctx, b, i, s, dest)
		} else {
			err = e.placeSource(withPart(ctx, b.Part.Name), s, dest, func(l string) { e.note(b, l) })
		}
		if err != nil {
			return "", fmt.Errorf("%s:%s: %w", b.Part.Name, s.Option, err)
		}
		if i == 0 && workDir == "" && s.Unpack {
			workDir = s.Dest
			if ents, err := os.ReadDir(dest); err == nil && len(ents) == 1 && ents[0].IsDir() {
				workDir = path.Join(s.Dest, ents[0].Name())
			}
		}
	}
	if workDir == "" {
		workDir = recipes.BuildDir
	}
	return workDir, nil
}

// fetch gets one source into the CAS (URL then alternates).
func (e *Engine) fetch(ctx context.Context, s recipes.Source) (*source.Fetched, error) {
	sums := toSums(s.Sums)
	fetcher := e.progressFetcher(ctx)
	f, err := fetcher.Fetch(ctx, s.URL, sums)
	for _, alt := range s.Alternates {
		if err == nil || ctx.Err() != nil {
			break
		}
		if f2, err2 := fetcher.Fetch(ctx, alt, sums); err2 == nil {
			f, err = f2, nil
		}
	}
	return f, err
}

func (e *Engine) placeSource(ctx context.Context, s recipes.Source, dest string, note func(string)) error {
	var file, name string
	switch {
	case s.Debian != nil:
		p, err := e.debianSource(ctx, s)
		if err != nil {
			return err
		}
		file, name = p, filepath.Base(p)
	default:
		local := strings.TrimPrefix(s.URL, "file://")
		if st, err := os.Stat(local); err == nil && st.IsDir() && path.IsAbs(local) {
			return copyTree(local, dest)
		}
		f, err := e.fetch(ctx, s)
		if err != nil {
			return err
		}
		note(fmt.Sprintf("source %s: %s from %s", s.Option, f.Name, f.From))
		for _, w := range f.Warnings {
			note("warning: " + w)
		}
		file, name = f.Path, f.Name
	}
	if !s.Unpack {
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
		return copyFile(file, dest, 0o644)
	}
	if err := source.Unpack(file, dest, source.UnpackOptions{Name: name}); err != nil {
		return err
	}
	return strip(dest, s.Strip)
}

// strip moves the content of a single top directory up, as the recipes'
// strip-top-level-dir says.
func strip(dest, mode string) error {
	if mode == recipes.StripFalse {
		return nil
	}
	ents, err := os.ReadDir(dest)
	if err != nil {
		return err
	}
	single := len(ents) == 1 && ents[0].IsDir()
	if !single {
		if mode == recipes.StripTrue {
			return fmt.Errorf("strip-top-level-dir = true but the archive does not hold exactly one top directory")
		}
		return nil
	}
	tmp := filepath.Join(dest, ".hbuild-strip")
	if err := os.Rename(filepath.Join(dest, ents[0].Name()), tmp); err != nil {
		return err
	}
	inner, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, de := range inner {
		if err := os.Rename(filepath.Join(tmp, de.Name()), filepath.Join(dest, de.Name())); err != nil {
			return err
		}
	}
	return os.Remove(tmp)
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", filepath.Base(src), err)
	}
	return out.Close()
}

// copyTree copies a local source directory (the cmmi path option).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case info.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case info.Mode().IsRegular():
			return copyFile(p, target, info.Mode().Perm())
		}
		return nil
	})
}

// debianSource fetches the upstream tarball of a Debian source package,
// verified against its .dsc from the signed archive.
func (e *Engine) debianSource(ctx context.Context, s recipes.Source) (string, error) {
	return debian.FetchSource(ctx, debian.Options{CacheDir: e.Store.Dir(), Offline: e.opts.Offline, Client: e.opts.HTTPClient,
		Events: func(m string) { e.emit(Event{Kind: EvLog, Line: m}) }}, s.Debian.Name, s.Debian.Version)
}
