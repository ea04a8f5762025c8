package rootfs

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"syscall"
	"time"

	"github.com/klauspost/pgzip"
)

// LayerInfo describes a layer blob.
type LayerInfo struct {
	Digest string // "sha256:..." of the compressed blob
	DiffID string // "sha256:..." of the uncompressed tar
	Size   int64
}

// writeLayer writes dir as a deterministic gzipped tar to dst (atomically):
// entries sorted by path, owner 0:0 with no names, every time set to epoch,
// hard links within the tree kept as links to their first path.
func writeLayer(ctx context.Context, dir, dst string, epoch time.Time) (*LayerInfo, error) {
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".layer-*")
	if err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	defer os.Remove(tmp.Name())
	ch := sha256.New()
	cw := &countWriter{w: io.MultiWriter(tmp, ch)}
	zw, err := pgzip.NewWriterLevel(cw, pgzip.BestSpeed)
	if err != nil {
		tmp.Close()
		return nil, err
	}
	if err := zw.SetConcurrency(1<<20, 2*runtime.NumCPU()); err != nil {
		tmp.Close()
		return nil, err
	}
	dh := sha256.New()
	if err := writeTar(ctx, dir, io.MultiWriter(zw, dh), epoch); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := zw.Close(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write layer: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	return &LayerInfo{
		Digest: "sha256:" + hex.EncodeToString(ch.Sum(nil)),
		DiffID: "sha256:" + hex.EncodeToString(dh.Sum(nil)),
		Size:   cw.n,
	}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type inode struct{ dev, ino uint64 }

func writeTar(ctx context.Context, dir string, w io.Writer, epoch time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write layer: %w", err)
	}
	rel := make(map[string]string, len(paths))
	for _, p := range paths {
		r, _ := filepath.Rel(dir, p)
		rel[p] = filepath.ToSlash(r)
	}
	sort.Slice(paths, func(i, j int) bool { return rel[paths[i]] < rel[paths[j]] })
	tw := tar.NewWriter(w)
	seen := map[inode]string{}
	buf := make([]byte, 256<<10)
	for i, p := range paths {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		st, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("write layer: %w", err)
		}
		name := rel[p]
		hdr := &tar.Header{Name: name, ModTime: epoch, Mode: int64(st.Mode().Perm()), Format: tar.FormatPAX}
		if st.Mode()&os.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		switch {
		case st.IsDir():
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case st.Mode()&os.ModeSymlink != 0:
			hdr.Typeflag = tar.TypeSymlink
			if hdr.Linkname, err = os.Readlink(p); err != nil {
				return fmt.Errorf("write layer: %w", err)
			}
		case st.Mode().IsRegular():
			hdr.Typeflag = tar.TypeReg
			hdr.Size = st.Size()
			if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Nlink > 1 {
				key := inode{uint64(sys.Dev), sys.Ino}
				if first, ok := seen[key]; ok {
					hdr.Typeflag = tar.TypeLink
					hdr.Linkname = first
					hdr.Size = 0
				} else {
					seen[key] = name
				}
			}
		default:
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write layer: %s: %w", name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return fmt.Errorf("write layer: %w", err)
			}
			_, err = io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), buf)
			f.Close()
			if err != nil {
				return fmt.Errorf("write layer: %s: %w", name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write layer: %w", err)
	}
	return nil
}
