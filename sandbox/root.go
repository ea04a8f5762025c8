package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
)

// rootPlan is the container's root: either a lower directory used in place,
// or a staging directory holding only mount points and symbolic links, with
// the layers mounted into it (inside the container's mount namespace).
type rootPlan struct {
	rootfs  string
	staging string           // "" when a lower directory is used in place
	mounts  []*configs.Mount // layer mounts into the staging directory, parents first
}

// remove deletes the staging directory. Nothing is mounted on it outside
// the container's mount namespace, which is gone by now.
func (r *rootPlan) remove() {
	if r.staging != "" {
		_ = os.RemoveAll(r.staging)
	}
}

// mountTarget is a path the sandbox mounts something on.
type mountTarget struct {
	path string // clean, absolute
	file bool   // a file (bind of a file), not a directory
}

// targets returns the paths the container mounts on, and the paths that
// must merely exist (the working directory).
func (s *Spec) targets() (mounts []mountTarget, exist []string) {
	mounts = []mountTarget{{path: "/proc"}, {path: "/dev"}, {path: "/tmp"}}
	for _, b := range s.Binds {
		fi, err := os.Stat(b.Source)
		mounts = append(mounts, mountTarget{path: b.Dest, file: err == nil && !fi.IsDir()})
	}
	if s.Dir != "" && s.Dir != "/" {
		inBind := false
		for _, m := range mounts {
			if s.Dir == m.path || strings.HasPrefix(s.Dir, m.path+"/") {
				inBind = true
			}
		}
		if !inBind {
			exist = append(exist, s.Dir)
		}
	}
	return mounts, exist
}

// planRoot decides how to make the root. staging is the directory to use if
// the lower directories cannot be used in place; it must not exist yet.
func planRoot(spec *Spec, staging string) (*rootPlan, error) {
	mounts, exist := spec.targets()
	if len(spec.Lower) == 1 && inPlaceOK(spec.Lower[0], mounts, exist) {
		return &rootPlan{rootfs: spec.Lower[0]}, nil
	}
	b := &rootBuilder{staging: staging, targets: map[string]mountTarget{}, exist: map[string]bool{}}
	for _, m := range mounts {
		b.targets[m.path] = m
	}
	for _, e := range exist {
		b.exist[e] = true
	}
	if err := os.Mkdir(staging, 0o755); err != nil {
		return nil, fmt.Errorf("create sandbox root: %w", err)
	}
	plan := &rootPlan{rootfs: staging, staging: staging}
	if err := b.fill("/", spec.Lower); err != nil {
		plan.remove()
		return nil, err
	}
	// The staging directory takes the mode of the top layer's root.
	if fi, err := os.Stat(spec.Lower[len(spec.Lower)-1]); err == nil {
		_ = os.Chmod(staging, fi.Mode().Perm())
	}
	plan.mounts = b.mounts
	return plan, nil
}

// inPlaceOK reports whether every mount point and the working directory
// already exist in dir, resolved as the container will resolve them, so that
// dir can be the root as it is.
func inPlaceOK(dir string, mounts []mountTarget, exist []string) bool {
	check := func(p string, wantFile bool) bool {
		full, err := securejoin.SecureJoin(dir, p)
		if err != nil {
			return false
		}
		fi, err := os.Lstat(full)
		if err != nil {
			return false
		}
		if wantFile {
			return fi.Mode().IsRegular()
		}
		return fi.IsDir()
	}
	for _, m := range mounts {
		if !check(m.path, m.file) {
			return false
		}
	}
	for _, e := range exist {
		if !check(e, false) {
			return false
		}
	}
	return true
}

type rootBuilder struct {
	staging string
	targets map[string]mountTarget
	exist   map[string]bool
	mounts  []*configs.Mount
}

const layerMountFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV

// below reports whether some target or path to create lies strictly below p.
func (b *rootBuilder) below(p string) bool {
	prefix := strings.TrimSuffix(p, "/") + "/"
	for t := range b.targets {
		if strings.HasPrefix(t, prefix) {
			return true
		}
	}
	for e := range b.exist {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

// layerEntry is one name at one path, as the stacked layers show it.
type layerEntry struct {
	top  fs.FileInfo
	path string   // the top layer's file
	dirs []string // when top is a directory: that directory in each layer it merges, bottom first
}

// lookup stacks name as overlayfs would: the topmost layer's entry wins; a
// directory merges with the directories right below it.
func lookup(dirs []string, name string) (*layerEntry, error) {
	var e *layerEntry
	for i := len(dirs) - 1; i >= 0; i-- {
		p := filepath.Join(dirs[i], name)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read layer: %w", err)
		}
		if e == nil {
			e = &layerEntry{top: fi, path: p}
			if !fi.IsDir() {
				return e, nil
			}
		} else if !fi.IsDir() {
			break
		}
		e.dirs = append([]string{p}, e.dirs...)
	}
	return e, nil
}

// fill populates the staging directory at rel (a clean absolute path inside
// the container) from the layer directories dirs (bottom first).
func (b *rootBuilder) fill(rel string, dirs []string) error {
	names := map[string]bool{}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		for _, e := range ents {
			names[e.Name()] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		child := filepath.Join(rel, name)
		host := filepath.Join(b.staging, child)
		e, err := lookup(dirs, name)
		if err != nil {
			return err
		}
		if t, ok := b.targets[child]; ok {
			if err := makeMountPoint(host, t.file, e.top.Mode().Perm()); err != nil {
				return err
			}
			continue
		}
		if b.below(child) {
			if !e.top.IsDir() {
				return fmt.Errorf("sandbox: %s is a mount point or working directory below %s, which is not a directory in the root layers (it is %s)", b.firstBelow(child), child, describe(e.top))
			}
			if err := os.Mkdir(host, e.top.Mode().Perm()); err != nil {
				return fmt.Errorf("create sandbox root: %w", err)
			}
			if err := b.fill(child, e.dirs); err != nil {
				return err
			}
			continue
		}
		if err := b.place(child, host, e); err != nil {
			return err
		}
	}
	// Mount points and directories that no layer has.
	var missing []string
	for t := range b.targets {
		if parentOf(t) == rel && !names[filepath.Base(t)] {
			missing = append(missing, t)
		}
	}
	for e := range b.exist {
		if parentOf(e) == rel && !names[filepath.Base(e)] {
			missing = append(missing, e)
		}
	}
	for t := range b.targets {
		if next := nextBelow(rel, t); next != "" && !names[next] {
			missing = append(missing, filepath.Join(rel, next))
		}
	}
	for e := range b.exist {
		if next := nextBelow(rel, e); next != "" && !names[next] {
			missing = append(missing, filepath.Join(rel, next))
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		host := filepath.Join(b.staging, m)
		if _, err := os.Lstat(host); err == nil {
			continue
		}
		if t, ok := b.targets[m]; ok {
			if err := makeMountPoint(host, t.file, 0o755); err != nil {
				return err
			}
			continue
		}
		// A directory on the way to a target, or one that must exist: empty.
		if err := os.Mkdir(host, 0o755); err != nil {
			return fmt.Errorf("create sandbox root: %w", err)
		}
		if b.below(m) {
			if err := b.fill(m, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// place puts an entry that holds no mount point into the staging directory.
func (b *rootBuilder) place(child, host string, e *layerEntry) error {
	switch mode := e.top.Mode(); {
	case mode.IsDir():
		if err := os.Mkdir(host, mode.Perm()); err != nil {
			return fmt.Errorf("create sandbox root: %w", err)
		}
		var full []string
		for _, d := range e.dirs {
			if !emptyDir(d) {
				full = append(full, d)
			}
		}
		switch len(full) {
		case 0: // an empty directory is its own copy
		case 1:
			b.mounts = append(b.mounts, &configs.Mount{
				Source: full[0], Destination: child, Device: "bind",
				Flags: unix.MS_BIND | unix.MS_REC | layerMountFlags,
			})
		default:
			lower := make([]string, len(full))
			for i, d := range full {
				lower[len(full)-1-i] = escapeOverlayPath(d) // overlayfs wants the top first
			}
			b.mounts = append(b.mounts, &configs.Mount{
				Source: "overlay", Destination: child, Device: "overlay",
				Flags: layerMountFlags,
				Data:  "lowerdir=" + strings.Join(lower, ":"),
			})
		}
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(e.path)
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		if err := os.Symlink(target, host); err != nil {
			return fmt.Errorf("create sandbox root: %w", err)
		}
	case mode.IsRegular():
		if err := makeMountPoint(host, true, mode.Perm()); err != nil {
			return err
		}
		b.mounts = append(b.mounts, &configs.Mount{
			Source: e.path, Destination: child, Device: "bind",
			Flags: unix.MS_BIND | layerMountFlags,
		})
	default:
		// Device nodes, fifos and sockets of a layer have no place in a
		// sandbox root (/dev is the sandbox's own).
	}
	return nil
}

func (b *rootBuilder) firstBelow(p string) string {
	prefix := p + "/"
	var all []string
	for t := range b.targets {
		if strings.HasPrefix(t, prefix) {
			all = append(all, t)
		}
	}
	for e := range b.exist {
		if strings.HasPrefix(e, prefix) {
			all = append(all, e)
		}
	}
	sort.Strings(all)
	if len(all) == 0 {
		return p
	}
	return all[0]
}

func makeMountPoint(host string, file bool, perm fs.FileMode) error {
	if file {
		f, err := os.OpenFile(host, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("create sandbox root: %w", err)
		}
		return f.Close()
	}
	if perm == 0 {
		perm = 0o755
	}
	if err := os.Mkdir(host, perm); err != nil {
		return fmt.Errorf("create sandbox root: %w", err)
	}
	return nil
}

func parentOf(p string) string { return filepath.Dir(p) }

// nextBelow returns the first component of p below dir when p lies at
// least two levels below dir ("" otherwise).
func nextBelow(dir, p string) string {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	rest, ok := strings.CutPrefix(p, prefix)
	if !ok {
		return ""
	}
	first, _, deeper := strings.Cut(rest, "/")
	if !deeper {
		return ""
	}
	return first
}

func emptyDir(d string) bool {
	f, err := os.Open(d)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) == 0
}

func describe(fi fs.FileInfo) string {
	switch m := fi.Mode(); {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsRegular():
		return "a file"
	default:
		return "a " + m.Type().String() + " entry"
	}
}

// escapeOverlayPath escapes the characters overlayfs's option parser treats
// specially.
func escapeOverlayPath(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`)
	return r.Replace(p)
}
