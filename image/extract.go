package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// Extract applies the layers of img, bottom first, to dir (created if
// needed): whiteouts (.wh.NAME) delete what lower layers made, opaque
// whiteouts (.wh..wh..opq) hide a directory's lower contents. Entry names
// and hard link targets are resolved inside dir; symlinks are created as
// they are but never followed out of dir. Ownership is applied and device
// nodes are created only when running as root; otherwise devices are
// skipped.
func Extract(img v1.Image, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("extract image: %w", err)
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("extract image: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("extract image: %w", err)
	}
	for i, l := range layers {
		if err := extractLayer(l, root); err != nil {
			d, _ := l.Digest()
			return fmt.Errorf("extract layer %d (%s): %w", i+1, d, err)
		}
	}
	return nil
}

type dirTime struct {
	path string
	t    time.Time
}

func extractLayer(l v1.Layer, root string) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	root0 := os.Geteuid() == 0
	made := map[string]bool{} // names written by this layer, exempt from its opaque whiteouts
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + hdr.Name)[1:]
		if name == "" {
			continue
		}
		parent, base := path.Split(name)
		parentPath, err := securejoin.SecureJoin(root, parent)
		if err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if base == whiteoutOpaque {
			if err := removeChildren(parentPath, parent, made); err != nil {
				return err
			}
			continue
		}
		if strings.HasPrefix(base, whiteoutPrefix) {
			if err := os.RemoveAll(filepath.Join(parentPath, strings.TrimPrefix(base, whiteoutPrefix))); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(parentPath, 0o755); err != nil {
			return err
		}
		target := filepath.Join(parentPath, base)
		made[name] = true
		if hdr.Typeflag != tar.TypeDir {
			if fi, err := os.Lstat(target); err == nil && (!fi.IsDir() || hdr.Typeflag != tar.TypeDir) {
				if err := os.RemoveAll(target); err != nil {
					return err
				}
			}
		}
		mode := os.FileMode(hdr.Mode).Perm() | tarSpecialBits(hdr.Mode)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if fi, err := os.Lstat(target); err == nil && !fi.IsDir() {
				if err := os.Remove(target); err != nil {
					return err
				}
			}
			if err := os.Mkdir(target, mode); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			dirs = append(dirs, dirTime{target, hdr.ModTime})
		case tar.TypeReg:
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("write %s: %w", hdr.Name, err)
			}
			for k, v := range hdr.PAXRecords {
				if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok && root0 {
					if err := unix.Lsetxattr(target, x, []byte(v), 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
						return fmt.Errorf("set xattr %s of %s: %w", x, hdr.Name, err)
					}
				}
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		case tar.TypeLink:
			src, err := securejoin.SecureJoin(root, hdr.Linkname)
			if err != nil {
				return fmt.Errorf("%s: link target %s: %w", hdr.Name, hdr.Linkname, err)
			}
			if fi, err := os.Lstat(src); err != nil || !fi.Mode().IsRegular() {
				return fmt.Errorf("%s: hard link target %s is not a regular file in the image", hdr.Name, hdr.Linkname)
			}
			if err := os.Link(src, target); err != nil {
				return err
			}
			continue // the target's metadata is the link's
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			if !root0 && hdr.Typeflag != tar.TypeFifo {
				continue
			}
			typ := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
			dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
			if err := unix.Mknod(target, typ|uint32(mode), int(dev)); err != nil {
				return fmt.Errorf("create %s: %w", hdr.Name, err)
			}
		default:
			continue
		}
		if root0 {
			if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
				return err
			}
		}
		if hdr.Typeflag != tar.TypeSymlink {
			// Chmod after chown: chown clears setuid and setgid.
			if err := os.Chmod(target, mode); err != nil {
				return err
			}
		}
		if hdr.Typeflag != tar.TypeDir {
			ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
			if err := unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
	}
	// Directory times last: creating their entries changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		ts := []unix.Timespec{unix.NsecToTimespec(dirs[i].t.UnixNano()), unix.NsecToTimespec(dirs[i].t.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dirs[i].path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return nil
}

func tarSpecialBits(m int64) os.FileMode {
	var fm os.FileMode
	if m&0o4000 != 0 {
		fm |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// removeChildren empties dirPath (layer name dirName) except for entries
// this layer wrote.
func removeChildren(dirPath, dirName string, made map[string]bool) error {
	ents, err := os.ReadDir(dirPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if made[path.Join(dirName, e.Name())] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dirPath, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
