package policy

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// mount places a host directory at a run-time path.
type mount struct {
	path string // run-time path, clean and absolute
	dir  string // host directory
}

// view is the run-time file system made of trees: a path is looked up in
// the tree mounted at its longest prefix, and symbolic links are followed
// in this view, never on the host.
type view struct {
	mounts []mount // longest path first
	lstats sync.Map
	found  sync.Map
	dirs   sync.Map // host directory -> map[string]bool of its entries
}

type lstatResult struct {
	mode   fs.FileMode
	target string // for symlinks
	err    error
}

// located is a run-time path resolved to a file of the view.
type located struct {
	real string // run-time path with every symlink resolved
	host string // the file on the host
	mode fs.FileMode
}

var errOutside = errors.New("outside the trees")

func newView(mounts []mount) *view {
	for i := range mounts {
		mounts[i].path = path.Clean("/" + mounts[i].path)
	}
	sort.SliceStable(mounts, func(i, j int) bool { return len(mounts[i].path) > len(mounts[j].path) })
	return &view{mounts: mounts}
}

// within reports whether p is dir or below it (both clean, absolute).
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir) && p[len(dir)] == '/'
}

// hostPath maps a clean run-time path to the host without following links:
// the tree mounted at the longest prefix of p has it (a part or dependency
// below the runtime base seen at "/" wins over the base). ancestor is true
// when p is a directory above a tree's mount point: like a mount point's
// parents, it is a directory of the view whatever the enclosing tree (if
// any) has there, so a base seen at "/" without /opt/hbuild does not hide
// a part seen at /opt/hbuild/parts/x. host is then the enclosing tree's
// file, or "" when no tree holds p.
func (v *view) hostPath(p string) (host string, ancestor bool, ok bool) {
	for _, m := range v.mounts {
		if p != m.path && within(m.path, p) {
			ancestor = true
			break
		}
	}
	for _, m := range v.mounts {
		if within(p, m.path) {
			return filepath.Join(m.dir, filepath.FromSlash(strings.TrimPrefix(p, m.path))), ancestor, true
		}
	}
	return "", ancestor, ancestor
}

func (v *view) lstat(host string) lstatResult {
	if r, ok := v.lstats.Load(host); ok {
		return r.(lstatResult)
	}
	var r lstatResult
	fi, err := os.Lstat(host)
	if err != nil {
		r.err = err
	} else {
		r.mode = fi.Mode()
		if r.mode&fs.ModeSymlink != 0 {
			r.target, r.err = os.Readlink(host)
		}
	}
	v.lstats.Store(host, r)
	return r
}

// resolve looks a run-time path up, following symbolic links inside the
// view (at most 40, as the kernel does).
func (v *view) resolve(p string) (*located, error) {
	if !path.IsAbs(p) {
		p = "/" + p
	}
	p = path.Clean(p) // no allocation when already clean
	if r, ok := v.found.Load(p); ok {
		l := r.(*located)
		if l == nil {
			return nil, fs.ErrNotExist
		}
		return l, nil
	}
	l, err := v.walk(p)
	if err == nil {
		v.found.Store(p, l)
	} else if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errOutside) {
		v.found.Store(p, (*located)(nil))
		err = fs.ErrNotExist
	}
	return l, err
}

func (v *view) walk(p string) (*located, error) {
	links := 0
	rest := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for len(rest) > 0 {
		elem := rest[0]
		rest = rest[1:]
		if elem == "" || elem == "." {
			continue
		}
		if elem == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, elem)
		host, ancestor, ok := v.hostPath(next)
		if !ok {
			return nil, errOutside
		}
		if ancestor {
			cur = next
			continue
		}
		r := v.lstat(host)
		if r.err != nil {
			return nil, r.err
		}
		if r.mode&fs.ModeSymlink != 0 {
			if links++; links > 40 {
				return nil, errors.New("too many levels of symbolic links")
			}
			target := r.target
			if !path.IsAbs(target) {
				target = path.Join(cur, target)
			}
			rest = append(strings.Split(strings.TrimPrefix(path.Clean(target), "/"), "/"), rest...)
			cur = "/"
			continue
		}
		if len(rest) > 0 && !r.mode.IsDir() {
			return nil, fs.ErrNotExist
		}
		cur = next
		if len(rest) == 0 {
			return &located{real: cur, host: host, mode: r.mode}, nil
		}
	}
	host, ancestor, ok := v.hostPath(cur)
	if !ok {
		return nil, errOutside
	}
	if ancestor {
		// The enclosing tree's directory, when it has one, lists the
		// files beside the mount points (for has).
		if host != "" && !v.lstat(host).mode.IsDir() {
			host = ""
		}
		return &located{real: cur, host: host, mode: fs.ModeDir}, nil
	}
	r := v.lstat(host)
	if r.err != nil {
		return nil, r.err
	}
	return &located{real: cur, host: host, mode: r.mode}, nil
}

// has reports whether the run-time directory dir has an entry name, from a
// listing read once per directory: most candidates of a search are not
// there, and this answers without a system call.
func (v *view) has(dir, name string) bool {
	l, err := v.resolve(dir)
	if err != nil || !l.mode.IsDir() || l.host == "" {
		return false
	}
	if m, ok := v.dirs.Load(l.host); ok {
		return m.(map[string]bool)[name]
	}
	var m map[string]bool
	if f, err := os.Open(l.host); err == nil {
		names, _ := f.Readdirnames(-1)
		f.Close()
		m = make(map[string]bool, len(names))
		for _, n := range names {
			m[n] = true
		}
	}
	got, _ := v.dirs.LoadOrStore(l.host, m)
	return got.(map[string]bool)[name]
}
