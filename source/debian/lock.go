package debian

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
	"pault.ag/go/debian/version"
)

// LockHeader is the first line of every lock file.
const LockHeader = "# hbuild debian lock v1"

// Lock pins a resolved package set: exactly which .deb files make a base.
type Lock struct {
	Arch     string
	Suites   []string
	Request  []string // the packages asked for, as given
	Packages []LockedPackage
}

// LockedPackage is one pinned .deb.
type LockedPackage struct {
	Name     string
	Version  string
	Arch     string
	Filename string // relative to the archive root
	Size     int64
	SHA256   string
}

// NewLock makes a lock from a resolved package set.
func NewLock(arch string, suites, request []string, pkgs []*Package) *Lock {
	l := &Lock{Arch: arch, Suites: append([]string(nil), suites...), Request: append([]string(nil), request...)}
	for _, p := range pkgs {
		l.Packages = append(l.Packages, LockedPackage{
			Name: p.Name, Version: p.Version, Arch: p.Architecture,
			Filename: p.Filename, Size: p.Size, SHA256: p.SHA256,
		})
	}
	sort.Slice(l.Packages, func(i, j int) bool { return l.Packages[i].Name < l.Packages[j].Name })
	return l
}

// Bytes renders the lock in its canonical text form: a header, then
//
//	arch amd64
//	suites bookworm bookworm-updates
//	request gcc make ...
//	NAME VERSION ARCH SIZE SHA256 FILENAME
//
// one package a line, sorted by name.
func (l *Lock) Bytes() []byte {
	var b bytes.Buffer
	b.WriteString(LockHeader + "\n")
	b.WriteString("# Written by `hbuild rootfs lock`; edit the package list in the profile, not here.\n")
	fmt.Fprintf(&b, "arch %s\n", l.Arch)
	fmt.Fprintf(&b, "suites %s\n", strings.Join(l.Suites, " "))
	fmt.Fprintf(&b, "request %s\n", strings.Join(l.Request, " "))
	pkgs := append([]LockedPackage(nil), l.Packages...)
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })
	for _, p := range pkgs {
		fmt.Fprintf(&b, "%s %s %s %d %s %s\n", p.Name, p.Version, p.Arch, p.Size, p.SHA256, p.Filename)
	}
	return b.Bytes()
}

// Digest is the SHA-256 (hex) of the canonical text: the identity of the
// package set.
func (l *Lock) Digest() string {
	sum := sha256.Sum256(l.Bytes())
	return hex.EncodeToString(sum[:])
}

// SameRequest reports whether the lock was made for this package list
// (order and duplicates do not matter).
func (l *Lock) SameRequest(request []string) bool {
	norm := func(s []string) string {
		m := map[string]bool{}
		for _, x := range s {
			if x = strings.TrimSpace(x); x != "" {
				m[x] = true
			}
		}
		var out []string
		for x := range m {
			out = append(out, x)
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	return norm(l.Request) == norm(request)
}

// WriteFile writes the lock atomically.
func (l *Lock) WriteFile(path string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(l.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write lock %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write lock %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write lock %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write lock %s: %w", path, err)
	}
	return nil
}

// ReadLock reads a lock file.
func ReadLock(path string) (*Lock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read lock: %w", err)
	}
	defer f.Close()
	return ParseLock(f, path)
}

// ParseLock parses the text form written by Bytes; name is used in errors.
func ParseLock(r io.Reader, name string) (*Lock, error) {
	l := &Lock{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	seen := map[string]bool{}
	header := false
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			if line != LockHeader {
				return nil, fmt.Errorf("%s:1: not an hbuild debian lock (want %q); run `hbuild rootfs lock` to write one", name, LockHeader)
			}
			header = true
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch f[0] {
		case "arch":
			if len(f) != 2 {
				return nil, fmt.Errorf("%s:%d: want \"arch NAME\"", name, n)
			}
			l.Arch = f[1]
			continue
		case "suites":
			l.Suites = f[1:]
			continue
		case "request":
			l.Request = f[1:]
			continue
		}
		if len(f) != 6 {
			return nil, fmt.Errorf("%s:%d: want \"NAME VERSION ARCH SIZE SHA256 FILENAME\", got %d fields", name, n, len(f))
		}
		p := LockedPackage{Name: f[0], Version: f[1], Arch: f[2], SHA256: strings.ToLower(f[4]), Filename: f[5]}
		if _, err := version.Parse(p.Version); err != nil {
			return nil, fmt.Errorf("%s:%d: %s: version %q: %w", name, n, p.Name, p.Version, err)
		}
		size, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("%s:%d: %s: bad size %q", name, n, p.Name, f[3])
		}
		p.Size = size
		if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != 32 {
			return nil, fmt.Errorf("%s:%d: %s: bad sha256 %q", name, n, p.Name, f[4])
		}
		if strings.HasPrefix(p.Filename, "/") || strings.Contains("/"+p.Filename+"/", "/../") {
			return nil, fmt.Errorf("%s:%d: %s: filename %q leaves the archive", name, n, p.Name, p.Filename)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("%s:%d: package %s is listed twice", name, n, p.Name)
		}
		seen[p.Name] = true
		l.Packages = append(l.Packages, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if !header {
		return nil, fmt.Errorf("%s: empty lock file", name)
	}
	if l.Arch == "" {
		return nil, fmt.Errorf("%s: no arch line", name)
	}
	if len(l.Packages) == 0 {
		return nil, fmt.Errorf("%s: no packages", name)
	}
	sort.Slice(l.Packages, func(i, j int) bool { return l.Packages[i].Name < l.Packages[j].Name })
	return l, nil
}

// FetchDebs makes sure every .deb of the lock is in the download cache,
// verified by size and SHA-256, and returns their paths in lock order. Debs
// already cached are not downloaded (no network and no mirror needed then).
func FetchDebs(ctx context.Context, l *Lock, opts Options) ([]string, error) {
	paths := make([]string, len(l.Packages))
	var missing []int
	for i, p := range l.Packages {
		if haveBlob(opts.CacheDir, p.SHA256, p.Size) {
			paths[i] = blobPath(opts.CacheDir, p.SHA256)
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return paths, nil
	}
	if opts.CacheDir == "" {
		return nil, errors.New("debian: Options.CacheDir is required")
	}
	o := opts
	if o.Mirror == "" {
		var err error
		if o, err = opts.withDefaults(); err != nil {
			return nil, err
		}
	}
	o.event("fetch %d packages from %s", len(missing), o.Mirror)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(6)
	for _, i := range missing {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			p := l.Packages[i]
			what := p.Name + "_" + p.Version + "_" + p.Arch + ".deb"
			path, err := o.fetchBlob(gctx, o.Mirror+"/"+p.Filename, what, p.SHA256, p.Size)
			paths[i] = path // each goroutine writes its own index
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("fetch packages: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return paths, nil
}
