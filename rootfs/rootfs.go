package rootfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/hbuild/hbuild/image"
	"github.com/hbuild/hbuild/source/debian"
	"golang.org/x/sync/errgroup"
)

// FormatVersion is part of every base's cache key: change it when the way
// trees or layers are made changes.
const FormatVersion = "hbuild-rootfs-2"

// ToolchainPackages is the built-in build base: glibc, gcc, g++ and the
// tools a configure script and a Makefile expect, and no other headers or
// link libraries. libc-bin (glibc's ldd, getconf, iconv, ldconfig) is there
// because Debian treats it as always installed and build scripts call it.
var ToolchainPackages = []string{
	"libc6-dev", "libc-bin", "gcc", "g++", "make", "binutils", "coreutils", "bash", "dash",
	"sed", "grep", "gawk", "findutils", "diffutils", "patch", "tar", "gzip",
	"bzip2", "xz-utils",
}

// GlibcPackages is the built-in runtime base for images.
var GlibcPackages = []string{"libc6", "libgcc-s1", "libstdc++6"}

// Options says where bases are kept and where packages come from.
type Options struct {
	CacheDir string // hbuild's cache: debs in blobs/, bases in bases/ (required)
	LockDir  string // where the built-in bases' lock files live ("" = CacheDir/bases/locks)
	Mirror   string // Debian archive root URL ("" = the host's first deb source)
	Suites   []string
	Keyring  string // "" = the apt source's Signed-By or the Debian archive keyring
	Events   func(message string)
	Offline  bool         // never use the network: a missing lock or .deb is an error
	Client   *http.Client // for the archive; nil = http.DefaultClient
	Epoch    time.Time    // time of every layer entry; zero = the Unix epoch
	Jobs     int          // packages unpacked at once; 0 = number of CPUs + 1
	// Compression of the layer: "gzip" (default; what every image tool
	// reads) or "zstd" (several times faster to write). Toolchain uses zstd
	// unless set: a build base is never shipped in an image.
	Compression string
}

// Package is one Debian package in a base.
type Package struct {
	Name, Version, Arch, SHA256 string
}

// Base is a root file system ready to use.
type Base struct {
	Name      string    `json:"name"`
	Dir       string    `json:"-"`      // unpacked tree, usable as a sandbox lower dir
	Digest    string    `json:"digest"` // layer digest ("sha256:..."), part of part keys
	DiffID    string    `json:"diffID"`
	Size      int64     `json:"size"` // layer size in bytes
	Layer     string    `json:"-"`    // path of the layer blob (tar, compressed as MediaType says)
	MediaType string    `json:"mediaType"`
	Key       string    `json:"key"`             // cache key: hash of the lock (or image digest) and FormatVersion
	LockFile  string    `json:"-"`               // the lock it was built from, when there is one
	Image     string    `json:"image,omitempty"` // OCI bases: the image's manifest digest
	Packages  []Package `json:"packages,omitempty"`
}

func (o Options) event(format string, args ...any) {
	if o.Events != nil {
		o.Events(fmt.Sprintf(format, args...))
	}
}

func (o Options) debOptions() debian.Options {
	return debian.Options{
		CacheDir: o.CacheDir, Mirror: o.Mirror, Suites: o.Suites, Keyring: o.Keyring,
		Client: o.Client, Offline: o.Offline, Events: o.Events,
	}
}

func (o Options) check() error {
	if o.CacheDir == "" {
		return errors.New("rootfs: Options.CacheDir is required")
	}
	return nil
}

func (o Options) lockDir() string {
	if o.LockDir != "" {
		return o.LockDir
	}
	return filepath.Join(o.CacheDir, "bases", "locks")
}

// Toolchain returns the built-in build base (ToolchainPackages), resolving
// and writing its lock on first use. Its layer is zstd-compressed unless
// opts.Compression says otherwise.
func Toolchain(ctx context.Context, opts Options) (*Base, error) {
	return builtin(ctx, "toolchain", opts)
}

// Glibc returns the built-in runtime base (GlibcPackages).
func Glibc(ctx context.Context, opts Options) (*Base, error) {
	return builtin(ctx, "glibc", opts)
}

func builtin(ctx context.Context, name string, opts Options) (*Base, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	s, _ := Builtin(name, opts)
	return s.Build(ctx, opts)
}

// Build makes (or reuses) the base for packages: with the lock file at
// lockPath when it exists and was made for the same package list, else
// resolving them and writing lockPath first.
func Build(ctx context.Context, packages []string, lockPath string, opts Options) (*Base, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	l, err := EnsureLock(ctx, packages, lockPath, opts)
	if err != nil {
		return nil, err
	}
	b, err := BuildLock(ctx, l, opts)
	if err != nil {
		return nil, err
	}
	b.Name = strings.TrimSuffix(filepath.Base(lockPath), filepath.Ext(lockPath))
	b.LockFile = lockPath
	return b, nil
}

// EnsureLock returns the lock at lockPath when it exists and lists the same
// request; otherwise it resolves packages and writes lockPath.
func EnsureLock(ctx context.Context, packages []string, lockPath string, opts Options) (*debian.Lock, error) {
	if l, err := debian.ReadLock(lockPath); err == nil {
		if l.SameRequest(packages) {
			return l, nil
		}
		if opts.Offline {
			return nil, fmt.Errorf("lock %s was made for other packages (%s); run `hbuild rootfs lock` online", lockPath, strings.Join(l.Request, " "))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	} else if opts.Offline {
		return nil, fmt.Errorf("no lock file %s and offline: run `hbuild rootfs lock` online first", lockPath)
	}
	return Lock(ctx, packages, lockPath, opts)
}

// Lock resolves packages against the archive and writes the lock to
// lockPath (atomically; concurrent callers on one cache are serialised).
func Lock(ctx context.Context, packages []string, lockPath string, opts Options) (*debian.Lock, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(lockPath), 0o755); err != nil {
		return nil, fmt.Errorf("write lock: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(opts.CacheDir, "bases"), 0o755); err != nil {
		return nil, fmt.Errorf("create cache: %w", err)
	}
	unlock, err := flock(ctx, filepath.Join(opts.CacheDir, "bases", "resolve.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	opts.event("resolve %s", strings.Join(packages, " "))
	l, err := debian.Resolve(ctx, packages, opts.debOptions())
	if err != nil {
		return nil, err
	}
	if err := l.WriteFile(lockPath); err != nil {
		return nil, err
	}
	opts.event("locked %d packages in %s", len(l.Packages), lockPath)
	return l, nil
}

// LockKey is the cache key of the base a lock makes with these options.
func LockKey(l *debian.Lock, opts Options) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%d\n", FormatVersion, image.FormatVersion, opts.compression(), opts.Epoch.Unix())
	h.Write(l.Bytes())
	return hex.EncodeToString(h.Sum(nil))
}

func (o Options) compression() string {
	if o.Compression == "" {
		return "gzip"
	}
	return o.Compression
}

// BuildLock makes (or reuses) the base a lock describes. The .debs come from
// the download cache when there (no network then).
func BuildLock(ctx context.Context, l *debian.Lock, opts Options) (*Base, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	key := LockKey(l, opts)
	return cached(ctx, opts, key, func(tmp string) (*Base, error) {
		debs, err := debian.FetchDebs(ctx, l, opts.debOptions())
		if err != nil {
			return nil, err
		}
		tree := filepath.Join(tmp, "tree")
		if err := os.Mkdir(tree, 0o755); err != nil {
			return nil, err
		}
		if err := prepareTree(tree); err != nil {
			return nil, fmt.Errorf("prepare tree: %w", err)
		}
		start := time.Now()
		controls, err := unpackAll(ctx, tree, l, debs, opts)
		if err != nil {
			return nil, err
		}
		if err := finishTree(tree, controls); err != nil {
			return nil, err
		}
		opts.event("unpacked %d packages in %s", len(debs), time.Since(start).Round(time.Millisecond))
		b := &Base{Key: key}
		for _, p := range l.Packages {
			b.Packages = append(b.Packages, Package{Name: p.Name, Version: p.Version, Arch: p.Arch, SHA256: p.SHA256})
		}
		return b, nil
	})
}

// cached returns the base stored under key, or builds it with make in a
// temporary directory (make fills tmp/tree), writes its layer and metadata,
// and renames it into place. A per-key file lock makes concurrent processes
// build it once.
func cached(ctx context.Context, opts Options, key string, make func(tmp string) (*Base, error)) (*Base, error) {
	dir := filepath.Join(opts.CacheDir, "bases")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cache: %w", err)
	}
	final := filepath.Join(dir, key)
	if b, err := loadBase(final); err == nil {
		return b, nil
	}
	unlock, err := flock(ctx, final+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if b, err := loadBase(final); err == nil {
		return b, nil
	}
	// Leftovers of a build that died: ours to remove, we hold the lock.
	stale, _ := filepath.Glob(filepath.Join(dir, ".tmp-"+key+"-*"))
	for _, s := range stale {
		os.RemoveAll(s)
	}
	if _, err := os.Stat(final); err == nil {
		os.RemoveAll(final) // no metadata: incomplete
	}
	markTopDir(dir)
	tmp, err := os.MkdirTemp(dir, ".tmp-"+key+"-")
	if err != nil {
		return nil, fmt.Errorf("create cache entry: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if !keep {
			os.RemoveAll(tmp)
		}
	}()
	b, err := make(tmp)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	info, err := writeLayer(ctx, filepath.Join(tmp, "tree"), filepath.Join(tmp, layerFile(opts.compression())),
		image.LayerOptions{Epoch: opts.Epoch, Compression: opts.compression()})
	if err != nil {
		return nil, err
	}
	b.MediaType = info.MediaType
	opts.event("wrote layer %s (%d bytes) in %s", info.Digest, info.Size, time.Since(start).Round(time.Millisecond))
	b.Key, b.Digest, b.DiffID, b.Size = key, info.Digest, info.DiffID, info.Size
	meta, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "meta.json"), append(meta, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("write base metadata: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("store base: %w", err)
	}
	keep = true
	return loadBase(final)
}

// writeLayer writes the layer of tree to the file dst. Unlike
// image.WriteLayerFile it does not sync: dst lies in the entry's temporary
// directory, which only the final rename publishes, and the tree beside it
// is not synced either; a killed build leaves a temporary directory that the
// next build removes.
func writeLayer(ctx context.Context, tree, dst string, opts image.LayerOptions) (*image.LayerInfo, error) {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	info, err := image.WriteLayer(ctx, tree, f, opts)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write layer: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	return info, nil
}

// loadBase reads a stored base; an entry without metadata is incomplete.
func loadBase(dir string) (*Base, error) {
	data, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return nil, err
	}
	b := &Base{}
	if err := json.Unmarshal(data, b); err != nil {
		return nil, fmt.Errorf("read base %s: %w", dir, err)
	}
	b.Dir = filepath.Join(dir, "tree")
	b.Layer = filepath.Join(dir, layerFile("gzip"))
	if b.MediaType == image.MediaTypeZstd {
		b.Layer = filepath.Join(dir, layerFile("zstd"))
	}
	return b, nil
}

func layerFile(compression string) string {
	if compression == "zstd" {
		return "layer.tar.zst"
	}
	return "layer.tar.gz"
}

// unpackAll unpacks the debs into tree in parallel, biggest first; where
// two packages ship the same path, the later one in lock order wins. It
// returns each package's control file, in lock order.
func unpackAll(ctx context.Context, root string, l *debian.Lock, debs []string, opts Options) ([][]byte, error) {
	t := newTree(root)
	order := make([]int, len(debs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return l.Packages[order[a]].Size > l.Packages[order[b]].Size })
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU() + 1
	}
	controls := make([][]byte, len(debs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, i := range order {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			p := l.Packages[i]
			name := p.Name + "_" + p.Version + "_" + p.Arch + ".deb"
			c, err := t.unpackVerified(debs[i], name, p.SHA256, i)
			controls[i] = c // each goroutine writes its own index
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return controls, ctx.Err()
}
