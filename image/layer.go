package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"golang.org/x/sys/unix"
)

// FormatVersion names the layer encoding described in the package
// documentation. It changes whenever the bytes of a layer made from the same
// tree could change.
const FormatVersion = "hbuild-layer-1"

// Pinned compression settings; part of FormatVersion.
const (
	GzipLevel     = 6       // pgzip level
	GzipBlockSize = 1 << 20 // pgzip block size in bytes
	ZstdLevel     = 3       // zstd level (zstd.SpeedDefault)
)

// DefaultEpoch is the time used for mtimes and image creation when no epoch
// (SOURCE_DATE_EPOCH) is given: the Unix epoch.
var DefaultEpoch = time.Unix(0, 0).UTC()

// KeptXattrs are the extended attributes a layer records; all others are
// dropped because they carry host or build state (SELinux labels, user.*).
var KeptXattrs = []string{"security.capability"}

// Media types of the layers WriteLayer makes.
const (
	MediaTypeGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
)

// LayerOptions say where a tree goes in the image and how it is encoded.
type LayerOptions struct {
	Prefix      string    // path inside the image, e.g. "opt/hbuild/parts/zlib"; "" = the root
	Epoch       time.Time // mtimes are clamped to it; zero = DefaultEpoch
	Compression string    // "gzip" (default) or "zstd"
}

// LayerInfo describes a written layer.
type LayerInfo struct {
	Digest    string // "sha256:..." of the compressed blob
	DiffID    string // "sha256:..." of the uncompressed tar
	Size      int64  // compressed size in bytes
	MediaType string
}

func (o LayerOptions) epoch() time.Time {
	if o.Epoch.IsZero() {
		return DefaultEpoch
	}
	return o.Epoch.UTC().Truncate(time.Second)
}

func (o LayerOptions) prefix() (string, error) {
	p := strings.Trim(filepath.ToSlash(o.Prefix), "/")
	if p == "" {
		return "", nil
	}
	if c := path.Clean(p); c != p || c == "." || strings.HasPrefix(c, "../") || c == ".." {
		return "", fmt.Errorf("layer prefix %q: must be a clean relative path without \"..\" components", o.Prefix)
	}
	return p, nil
}

// compressor returns the compressing writer and the media type.
func (o LayerOptions) compressor(w io.Writer) (io.WriteCloser, string, error) {
	switch o.Compression {
	case "", "gzip":
		zw, err := pgzip.NewWriterLevel(w, GzipLevel)
		if err != nil {
			return nil, "", err
		}
		if err := zw.SetConcurrency(GzipBlockSize, 2*runtime.GOMAXPROCS(0)); err != nil {
			return nil, "", err
		}
		return zw, MediaTypeGzip, nil
	case "zstd":
		zw, err := zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(ZstdLevel)),
			zstd.WithEncoderCRC(false),
			zstd.WithEncoderConcurrency(2), // output is identical for any value; 2 overlaps encoding and writing
			zstd.WithLowerEncoderMem(false))
		if err != nil {
			return nil, "", err
		}
		return zw, MediaTypeZstd, nil
	default:
		return nil, "", fmt.Errorf("layer compression %q: use gzip or zstd", o.Compression)
	}
}

// countWriter counts bytes.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// WriteLayer writes the layer of dir to w and returns its digests, computed
// while writing.
func WriteLayer(ctx context.Context, dir string, w io.Writer, opts LayerOptions) (*LayerInfo, error) {
	prefix, err := opts.prefix()
	if err != nil {
		return nil, err
	}
	// The tree itself may be reached through a symlink; inside it,
	// symlinks are entries.
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("write layer: %s is not a directory", dir)
	}
	digest, diffID := sha256.New(), sha256.New()
	count := &countWriter{}
	zw, mediaType, err := opts.compressor(io.MultiWriter(w, digest, count))
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(io.MultiWriter(zw, diffID))
	lw := &layerWriter{ctx: ctx, tw: tw, root: root, prefix: prefix, epoch: opts.epoch(), links: map[inode]string{}}
	werr := lw.write()
	if werr == nil {
		werr = tw.Close()
	}
	if cerr := zw.Close(); werr == nil && cerr != nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("write layer of %s: %w", dir, werr)
	}
	return &LayerInfo{
		Digest:    hashString(digest),
		DiffID:    hashString(diffID),
		Size:      count.n,
		MediaType: mediaType,
	}, nil
}

// WriteLayerFile writes the layer of dir to the file dst, atomically: dst
// appears complete or not at all.
func WriteLayerFile(ctx context.Context, dir, dst string, opts LayerOptions) (*LayerInfo, error) {
	var info *LayerInfo
	err := atomicWrite(dst, func(f *os.File) error {
		var err error
		info, err = WriteLayer(ctx, dir, f, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	return info, nil
}

// atomicWrite writes a file through a temporary sibling and renames it into
// place once it is complete and synced.
func atomicWrite(dst string, write func(f *os.File) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

type inode struct{ dev, ino uint64 }

type layerWriter struct {
	ctx    context.Context
	tw     *tar.Writer
	root   string
	prefix string
	epoch  time.Time
	links  map[inode]string // first name of each multiply linked inode
	buf    []byte
}

func (lw *layerWriter) write() error {
	if lw.prefix != "" {
		parts := strings.Split(lw.prefix, "/")
		for i := 1; i < len(parts); i++ {
			if err := lw.tw.WriteHeader(&tar.Header{
				Typeflag: tar.TypeDir,
				Name:     strings.Join(parts[:i], "/") + "/",
				Mode:     0o755,
				ModTime:  lw.epoch,
				Format:   tar.FormatPAX,
			}); err != nil {
				return err
			}
		}
	}
	lw.buf = make([]byte, 256<<10)
	return lw.walk(lw.root, lw.prefix)
}

// walk emits the entry of p (named name in the layer) and, for a directory,
// its children in sorted order.
func (lw *layerWriter) walk(p, name string) error {
	if err := lw.ctx.Err(); err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if name != "" {
		if err := lw.entry(p, name, fi); err != nil {
			return err
		}
	}
	if !fi.IsDir() {
		return nil
	}
	names, err := readDirNames(p)
	if err != nil {
		return err
	}
	for _, n := range names {
		child := n
		if name != "" {
			child = name + "/" + n
		}
		if err := lw.walk(filepath.Join(p, n), child); err != nil {
			return err
		}
	}
	return nil
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// normMode is the umask-independent mode recorded for perm bits m.
func normMode(m fs.FileMode) int64 {
	owner := int64(m.Perm()) & 0o700
	rx := (owner >> 6) & 0o5
	mode := owner | rx<<3 | rx
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

func (lw *layerWriter) entry(p, name string, fi fs.FileInfo) error {
	mt := fi.ModTime()
	if mt.After(lw.epoch) {
		mt = lw.epoch
	}
	hdr := &tar.Header{
		Name:    name,
		Mode:    normMode(fi.Mode()),
		ModTime: mt.Truncate(time.Second),
		Format:  tar.FormatPAX,
	}
	switch typ := fi.Mode().Type(); {
	case typ == 0:
		st, _ := fi.Sys().(*syscall.Stat_t)
		if st != nil && st.Nlink > 1 {
			key := inode{uint64(st.Dev), st.Ino}
			if first, ok := lw.links[key]; ok {
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = first
				return lw.tw.WriteHeader(hdr)
			}
			lw.links[key] = name
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = fi.Size()
		if err := lw.xattrs(p, hdr); err != nil {
			return err
		}
		return lw.file(p, hdr)
	case typ == fs.ModeDir:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		return lw.tw.WriteHeader(hdr)
	case typ == fs.ModeSymlink:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = target
		hdr.Mode = 0o777
		return lw.tw.WriteHeader(hdr)
	default:
		return fmt.Errorf("%s is a %s: a layer holds only files, directories and symlinks (remove it from the part's location)", p, kindOf(typ))
	}
}

func kindOf(t fs.FileMode) string {
	switch {
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeNamedPipe != 0:
		return "FIFO"
	case t&fs.ModeCharDevice != 0:
		return "character device"
	case t&fs.ModeDevice != 0:
		return "block device"
	}
	return "special file"
}

func (lw *layerWriter) xattrs(p string, hdr *tar.Header) error {
	for _, name := range KeptXattrs {
		v, err := getxattr(p, name)
		if err != nil {
			return err
		}
		if v != nil {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+name] = string(v)
		}
	}
	return nil
}

func getxattr(p, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, name, buf)
		switch {
		case err == nil:
			return buf[:n], nil
		case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP):
			return nil, nil
		case errors.Is(err, unix.ERANGE):
			buf = make([]byte, 2*len(buf))
		default:
			return nil, fmt.Errorf("read xattr %s of %s: %w", name, p, err)
		}
	}
}

func (lw *layerWriter) file(p string, hdr *tar.Header) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := lw.tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.CopyBuffer(lw.tw, struct{ io.Reader }{f}, lw.buf)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("read %s: size changed while writing the layer", p)
	}
	return nil
}

// hashString returns "sha256:<hex>" of the sum in h.
func hashString(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }
