package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hbuild/hbuild/cache"
	"github.com/hbuild/hbuild/image"
	"github.com/hbuild/hbuild/profile"
	"github.com/hbuild/hbuild/recipes"
	"github.com/hbuild/hbuild/rootfs"
	"github.com/hbuild/hbuild/sandbox"
	"github.com/hbuild/hbuild/source"
)

// Base is a root file system: the toolchain parts build on, or the runtime
// base images start from.
type Base struct {
	Name   string
	Dir    string // unpacked tree, used as the sandbox's lower
	Digest string // its layer digest, part of every key
	Layer  string // path of its layer blob
	DiffID string
	Size   int64
	Media  string // layer media type
	// Packages are the Debian packages of the base, for the images' SBOM.
	Packages []image.BasePackage
}

// Options configure an Engine.
type Options struct {
	CacheDir      string
	Jobs          int  // parallel CPU tokens; default runtime.NumCPU()
	KeepGoing     bool // build what can be built after a failure
	KeepFailed    bool // keep a failed part's sandbox tree under <cache>/failed/<part>
	Offline       bool
	AllowUnpinned bool
	Outputs       []string       // image outputs replacing those of the profile
	Limits        sandbox.Limits // per step
	HTTPClient    *http.Client
	Events        func(Event) // nil: events are dropped

	// LockDir holds the bases' lock files (toolchain.lock, glibc.lock),
	// committed beside a profile to pin its bases; "" = inside the cache.
	LockDir string
	// BaseCacheDir is where the bases and their .debs are kept
	// ("" = CacheDir); tests share one across cache directories.
	BaseCacheDir string

	// Toolchain and Glibc return the build base and the runtime base
	// (default: rootfs's locked bases).
	Toolchain func(ctx context.Context) (*Base, error)
	Glibc     func(ctx context.Context) (*Base, error)
	// BuildPart builds one part that is not in the store (default: the
	// sandboxed build); tests replace it.
	BuildPart func(ctx context.Context, b *PartBuild) error
}

// Engine builds plans into a cache directory.
type Engine struct {
	opts    Options
	Store   *cache.Store
	Fetcher *source.Fetcher
	// Remote is the shared cache (nil = none): Build pulls what it has
	// before scheduling and pushes what it builds.
	Remote *cache.Remote

	pushes sync.WaitGroup // pushes to Remote in flight

	evMu      sync.Mutex
	baseOnce  sync.Mutex
	toolchain *Base
	glibc     *Base
	bases     map[string]*Base // debian-rootfs parts
}

// New opens the cache and prepares an engine.
func New(opts Options) (*Engine, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("engine: no cache directory")
	}
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.NumCPU()
	}
	st, err := cache.Open(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	cas, err := source.OpenCAS(st.Dir() + "/blobs")
	if err != nil {
		return nil, err
	}
	e := &Engine{opts: opts, Store: st, Fetcher: &source.Fetcher{CAS: cas, Offline: opts.Offline, AllowUnpinned: opts.AllowUnpinned, Client: opts.HTTPClient}}
	if e.opts.Toolchain == nil {
		e.opts.Toolchain = func(ctx context.Context) (*Base, error) { return fromRootfs(rootfs.Toolchain(ctx, e.rootfsOptions())) }
	}
	if e.opts.Glibc == nil {
		e.opts.Glibc = func(ctx context.Context) (*Base, error) { return fromRootfs(rootfs.Glibc(ctx, e.rootfsOptions())) }
	}
	if e.opts.BuildPart == nil {
		e.opts.BuildPart = e.buildInSandbox
	}
	return e, nil
}

func (e *Engine) rootfsOptions() rootfs.Options {
	dir := e.opts.BaseCacheDir
	if dir == "" {
		dir = e.opts.CacheDir
	}
	return rootfs.Options{CacheDir: dir, LockDir: e.opts.LockDir, Offline: e.opts.Offline, Client: e.opts.HTTPClient,
		Events: func(m string) { e.emit(Event{Kind: EvLog, Part: "base", Line: m}) }}
}

func fromRootfs(b *rootfs.Base, err error) (*Base, error) {
	if err != nil {
		return nil, err
	}
	base := &Base{Name: b.Name, Dir: b.Dir, Digest: b.Digest, Layer: b.Layer, DiffID: b.DiffID, Size: b.Size, Media: b.MediaType}
	for _, p := range b.Packages {
		base.Packages = append(base.Packages, image.BasePackage{Name: p.Name, Version: p.Version, Arch: p.Arch, Distro: "debian"})
	}
	return base, nil
}

func (e *Engine) emit(ev Event) {
	if e.opts.Events == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	e.evMu.Lock()
	defer e.evMu.Unlock()
	e.opts.Events(ev)
}

// Toolchain returns the build base (made and locked once, then cached).
func (e *Engine) Toolchain(ctx context.Context) (*Base, error) {
	e.baseOnce.Lock()
	defer e.baseOnce.Unlock()
	if e.toolchain == nil {
		b, err := e.opts.Toolchain(ctx)
		if err != nil {
			return nil, fmt.Errorf("prepare the toolchain base: %w", err)
		}
		e.toolchain = b
	}
	return e.toolchain, nil
}

// Glibc returns the runtime base of images.
func (e *Engine) Glibc(ctx context.Context) (*Base, error) {
	e.baseOnce.Lock()
	defer e.baseOnce.Unlock()
	if e.glibc == nil {
		b, err := e.opts.Glibc(ctx)
		if err != nil {
			return nil, fmt.Errorf("prepare the glibc base: %w", err)
		}
		e.glibc = b
	}
	return e.glibc, nil
}

// Plan reads a profile and plans it against this engine's build base. It
// applies the profile's find-links and allow-hosts to the fetcher.
func (e *Engine) Plan(ctx context.Context, profilePath string, po PlanOptions) (*Plan, error) {
	tc, err := e.Toolchain(ctx)
	if err != nil {
		return nil, err
	}
	po.BaseDigest = tc.Digest
	if po.Read == nil {
		po.Read = func(u string, sums []recipes.Checksum) ([]byte, error) {
			f, err := e.Fetcher.Fetch(ctx, u, toSums(sums))
			if err != nil {
				return nil, err
			}
			return os.ReadFile(f.Path)
		}
	}
	if po.SourceID == nil && e.opts.AllowUnpinned {
		po.SourceID = func(s recipes.Source) (string, error) {
			f, err := e.fetch(ctx, s)
			if err != nil {
				return "", err
			}
			e.emit(Event{Kind: EvWarning, Line: fmt.Sprintf("%s is not pinned: add sha256 = %s", s.URL, f.SHA256)})
			return "sha256:" + f.SHA256, nil
		}
	}
	po.SourceID = e.gitSourceIDs(ctx, po.SourceID)
	if po.Fetch == nil {
		po.Fetch = func(u string, immutable bool) (string, string, error) {
			if p := strings.TrimPrefix(u, "file://"); !strings.Contains(p, "://") {
				return fetchLocal(p, immutable)
			}
			f, err := e.progressFetcher(ctx).FetchUnpinned(ctx, u, immutable)
			if err != nil {
				return "", "", err
			}
			return f.Path, f.SHA256, nil
		}
	}
	// find-links and allow-hosts apply to every fetch, those made while
	// planning (unpinned sources, templates) included.
	lo := po.Load
	if lo.Directory == "" {
		lo.Directory = po.Directory
	}
	if lo.Directory == "" {
		lo.Directory = DefaultDirectory
	}
	if prof, err := profile.Load(profilePath, lo); err == nil {
		e.fetchSettings(prof)
	}
	pl, err := LoadPlan(ctx, profilePath, po)
	if err != nil {
		return nil, err
	}
	for _, w := range pl.Profile.Warnings() {
		e.emit(Event{Kind: EvWarning, Line: w.String()})
	}
	for _, w := range pl.Warnings {
		e.emit(Event{Kind: EvWarning, Line: w})
	}
	e.fetchSettings(pl.Profile)
	return pl, nil
}

// fetchSettings applies [buildout] find-links and allow-hosts.
func (e *Engine) fetchSettings(prof *profile.Profile) {
	if v, err := prof.Get("buildout", "find-links"); err == nil {
		e.Fetcher.FindLinks = strings.Fields(v)
	}
	if v, err := prof.Get("buildout", "allow-hosts"); err == nil {
		var hosts []string
		for _, h := range strings.Fields(v) {
			if h == "*" {
				hosts = nil // "*" allows every host
				break
			}
			hosts = append(hosts, h)
		}
		e.Fetcher.AllowHosts = hosts
	}
}

func toSums(in []recipes.Checksum) []source.Checksum {
	var out []source.Checksum
	for _, c := range in {
		out = append(out, source.Checksum{Algo: c.Algo, Hex: c.Hex})
	}
	return out
}

// Cached returns the store entry of a part, or nil.
func (e *Engine) Cached(p *Part) *cache.Entry {
	if p.Build.Image != nil || p.Build.Rootfs != nil {
		return nil
	}
	ent, err := e.Store.Get(p.Key)
	if err != nil {
		return nil
	}
	return ent
}

// rootfsPart makes the base of a debian-rootfs part: the named built-in
// base's packages plus the part's, locked in <LockDir>/<part>.lock.
func (e *Engine) rootfsPart(ctx context.Context, p *Part) (*Base, error) {
	e.baseOnce.Lock()
	if b := e.bases[p.Name]; b != nil {
		e.baseOnce.Unlock()
		return b, nil
	}
	e.baseOnce.Unlock()
	e.emit(Event{Kind: EvStarted, Part: p.Name, Key: p.Key})
	spec := p.Build.Rootfs
	pkgs := rootfs.GlibcPackages
	if spec.Base == "toolchain" {
		pkgs = rootfs.ToolchainPackages
	}
	pkgs = append(append([]string(nil), pkgs...), spec.Packages...)
	opts := e.rootfsOptions()
	if spec.Suite != "" {
		opts.Suites = strings.Fields(spec.Suite)
	}
	lockDir := opts.LockDir
	if lockDir == "" {
		lockDir = filepath.Join(opts.CacheDir, "bases", "locks")
	}
	b, err := fromRootfs(rootfs.Build(ctx, pkgs, filepath.Join(lockDir, p.Name+".lock"), opts))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Name, err)
	}
	b.Name = p.Name
	e.baseOnce.Lock()
	if e.bases == nil {
		e.bases = map[string]*Base{}
	}
	e.bases[p.Name] = b
	e.baseOnce.Unlock()
	e.emit(Event{Kind: EvDone, Part: p.Name, Key: p.Key})
	return b, nil
}
