package source

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
	"golang.org/x/sys/unix"
)

// UnpackOptions tune Unpack.
type UnpackOptions struct {
	// StripTop moves the content of the archive's top-level directory up
	// into dest when the archive holds exactly one top-level entry and it
	// is a directory, as buildout recipes do.
	StripTop bool
	// Name is the archive's file name, used to pick the format when its
	// content does not tell (a CAS blob has no extension).
	Name string
	// PureGo decompresses in-process only. By default xz, lzip and bzip2
	// streams go through the host's xz, lzip and bzip2 when they are on
	// PATH: they are an order of magnitude faster than the Go decoders,
	// and the bytes out are the same.
	PureGo bool
}

// Formats are the archive formats Unpack knows, as their usual suffixes.
var Formats = []string{".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst", ".tar.lz", ".tar.lzma", ".zip"}

// Unpack extracts a tar (uncompressed, gzip, bzip2, xz, zstd, lzip or lzma)
// or zip archive into dest, creating dest if needed. The format is sniffed
// from the content, else taken from opts.Name or archive's name.
//
// Entries are hostile: absolute names, ".." components and symlinks that
// resolve outside dest are refused; no symlink is followed out of dest
// while writing; setuid, setgid and sticky bits are dropped; ownership is
// not restored (the files belong to the caller); modification times are
// kept, so that make sees the tarball's generated files as up to date.
// Devices and fifos are skipped. On error dest may hold part of the
// archive: unpack into a fresh directory and remove it on failure.
func Unpack(archive, dest string, opts UnpackOptions) error {
	name := opts.Name
	if name == "" {
		name = filepath.Base(archive)
	}
	if err := unpack(archive, dest, name, opts); err != nil {
		return fmt.Errorf("unpack %s: %w", name, err)
	}
	return nil
}

func unpack(archive, dest, name string, opts UnpackOptions) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	dest, err = filepath.Abs(dest)
	if err != nil {
		return err
	}
	if dest, err = filepath.EvalSymlinks(dest); err != nil {
		return err
	}
	root := dest
	if opts.StripTop {
		if root, err = os.MkdirTemp(dest, ".hbuild-unpack-"); err != nil {
			return err
		}
		defer os.RemoveAll(root)
	}
	x := &extractor{root: root}
	br := bufio.NewReaderSize(f, 1<<16)
	head, _ := br.Peek(512)
	switch format := sniff(head, name); format {
	case "zip":
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if err := x.zip(f, fi.Size()); err != nil {
			return err
		}
	case "":
		return fmt.Errorf("unknown archive format (known: %s)", strings.Join(Formats, " "))
	default:
		var r io.Reader
		var finish func(ok bool) error
		if tool := externalTool(format); tool != "" && !opts.PureGo {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			r, finish, err = startExternal(tool, f)
		} else if r, finish, err = decompressor(format, br); err == nil && format != "tar" {
			r = &namedReader{r: r, name: format}
		}
		if err != nil {
			return err
		}
		err = x.tar(r)
		if err == nil {
			// Read to the end so the compressor's own check (CRC, sizes)
			// is verified: tar stops at its end-of-archive blocks.
			if _, err = io.Copy(io.Discard, r); err != nil {
				err = fmt.Errorf("read %s: %w", format, err)
			}
		}
		// A decompressor's own error (corrupt data) explains a tar error.
		if ferr := finish(err == nil); ferr != nil {
			err = ferr
		}
		if err != nil {
			if format != "tar" && errors.Is(err, tar.ErrHeader) {
				return fmt.Errorf("%s data is not a tar archive: %w", format, err)
			}
			return err
		}
	}
	if err := x.finish(); err != nil {
		return err
	}
	links := x.links
	if opts.StripTop {
		var stripped bool
		if stripped, err = moveUp(root, dest); err != nil {
			return err
		}
		if stripped {
			links = links[:0:0]
			for _, l := range x.links {
				if _, rest, ok := strings.Cut(l, "/"); ok {
					links = append(links, rest)
				}
			}
		}
	}
	return checkLinks(dest, links)
}

// checkLinks refuses symlinks (relative to dest) that resolve outside it:
// one harmless alone may escape through another (a -> "b/..", b -> "."),
// so each is checked with the whole tree in place.
func checkLinks(dest string, links []string) error {
	for _, l := range links {
		inside, err := resolvesInside(dest, l)
		if err != nil {
			return err
		}
		if !inside {
			target, _ := os.Readlink(filepath.Join(dest, l))
			return fmt.Errorf("symlink %s -> %s points outside the destination", l, target)
		}
	}
	return nil
}

// newExtractor prepares dest (created if needed, symlinks in its own path
// resolved) for extraction.
func newExtractor(dest string) (*extractor, error) {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dest)
	if err != nil {
		return nil, err
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, err
	}
	return &extractor{root: abs}, nil
}

// sniff returns the archive format: a compression name, "tar", "zip" or "".
func sniff(head []byte, name string) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip"
	case bytes.HasPrefix(head, []byte("BZh")):
		return "bzip2"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return "xz"
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	case isLzip(head):
		return "lzip"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return "zip"
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return "tar"
	}
	n := strings.ToLower(name)
	for _, s := range []struct{ suffix, format string }{
		{".tar.lzma", "lzma"}, {".tlz", "lzma"}, {".tar", "tar"}, {".zip", "zip"},
		{".tar.gz", "gzip"}, {".tgz", "gzip"}, {".tar.bz2", "bzip2"}, {".tbz2", "bzip2"}, {".tbz", "bzip2"},
		{".tar.xz", "xz"}, {".txz", "xz"}, {".tar.zst", "zstd"}, {".tzst", "zstd"}, {".tar.lz", "lzip"},
	} {
		if strings.HasSuffix(n, s.suffix) {
			return s.format
		}
	}
	return ""
}

func noFinish(bool) error { return nil }

// namedReader prefixes a decoder's errors with its format.
type namedReader struct {
	r    io.Reader
	name string
}

func (n *namedReader) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if err != nil && err != io.EOF && !strings.HasPrefix(err.Error(), n.name+":") {
		err = fmt.Errorf("%s: %w", n.name, err)
	}
	return k, err
}

// decompressor returns an in-process decoder for format.
func decompressor(format string, r io.Reader) (io.Reader, func(ok bool) error, error) {
	switch format {
	case "tar":
		return r, noFinish, nil
	case "gzip":
		z, err := pgzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return z, func(bool) error { return z.Close() }, nil
	case "bzip2":
		return bzip2.NewReader(r), noFinish, nil
	case "xz":
		z, err := xz.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("xz: %w", err)
		}
		return z, noFinish, nil
	case "zstd":
		z, err := zstd.NewReader(r, zstd.WithDecoderMaxMemory(1<<31))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return z, func(bool) error { z.Close(); return nil }, nil
	case "lzip":
		z, err := newLzipReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, noFinish, nil
	case "lzma":
		z, err := lzma.NewReader(bufio.NewReader(r))
		if err != nil {
			return nil, nil, fmt.Errorf("lzma: %w", err)
		}
		return z, noFinish, nil
	}
	return nil, nil, fmt.Errorf("unknown compression %q", format)
}

// externalTool returns the host decompressor used for format, if any.
func externalTool(format string) string {
	var cands []string
	switch format {
	case "xz", "lzma":
		cands = []string{"xz"}
	case "lzip":
		cands = []string{"lzip"}
	case "bzip2":
		cands = []string{"lbzip2", "bzip2"}
	}
	for _, c := range cands {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

// startExternal runs "tool -dc" on the archive. finish waits for it and
// returns its failure; when the caller stopped early (ok false) the rest
// of the output is drained first, so the tool ends by itself and its
// status tells whether the data was corrupt.
func startExternal(tool string, archive *os.File) (io.Reader, func(ok bool) error, error) {
	cmd := exec.Command(tool, "-dc")
	cmd.Stdin = archive
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Base(tool), err)
	}
	finish := func(ok bool) error {
		if !ok {
			io.Copy(io.Discard, out)
		}
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("%s: %w: %s", filepath.Base(tool), err, strings.TrimSpace(stderr.String()))
		}
		return nil
	}
	return bufio.NewReaderSize(out, 1<<16), finish, nil
}

// extractor writes entries under root.
type extractor struct {
	buf      []byte
	dirCache map[string]string
	root     string
	dirs     []dirMeta
	links    []string // symlinks created, relative to root
}

type writerOnly struct{ w io.Writer }

func (w writerOnly) Write(p []byte) (int, error) { return w.w.Write(p) }

type dirMeta struct {
	rel   string
	mode  fs.FileMode
	mtime time.Time
}

// cleanName validates an entry name and returns it relative, slash
// separated, without "." components; "" is the root itself.
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("entry %q: NUL in name", name)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("entry %q: absolute path", name)
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("entry %q: \"..\" in path", name)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "/"), nil
}

// parent resolves the directory that will hold rel inside root, creating
// it, without leaving root through symlinks already extracted. Resolved
// directories are remembered until a symlink is made or an entry removed,
// the only events that can change a resolution (a directory, once made,
// is never replaced).
func (x *extractor) parent(rel string) (string, error) {
	d := path.Dir(rel)
	if dir, ok := x.dirCache[d]; ok {
		return dir, nil
	}
	dir, err := securejoin.SecureJoin(x.root, d)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if x.dirCache == nil {
		x.dirCache = map[string]string{}
	}
	x.dirCache[d] = dir
	return dir, nil
}

// clear removes a non-directory at p so an entry can take its place (a
// later entry of an archive replaces an earlier one, as tar does).
func (x *extractor) clear(p string, isDir bool) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		if isDir {
			return nil
		}
		return fmt.Errorf("%s: a directory is in the way", p)
	}
	x.dirCache = nil
	return os.Remove(p)
}

type entry struct {
	name     string
	kind     byte // tar.TypeReg, TypeDir, TypeSymlink, TypeLink
	mode     fs.FileMode
	mtime    time.Time
	linkname string
	body     io.Reader
}

func (x *extractor) add(e entry) error {
	rel, err := cleanName(e.name)
	if err != nil {
		return err
	}
	if rel == "" {
		if e.kind == tar.TypeDir {
			return nil
		}
		return fmt.Errorf("entry %q: no file name", e.name)
	}
	dir, err := x.parent(rel)
	if err != nil {
		return fmt.Errorf("entry %s: %w", rel, err)
	}
	p := filepath.Join(dir, path.Base(rel))
	if err := x.clear(p, e.kind == tar.TypeDir); err != nil {
		return fmt.Errorf("entry %s: %w", rel, err)
	}
	switch e.kind {
	case tar.TypeDir:
		if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("entry %s: %w", rel, err)
		}
		x.dirs = append(x.dirs, dirMeta{rel: rel, mode: e.mode.Perm() | 0o700, mtime: e.mtime})
	case tar.TypeReg:
		out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return fmt.Errorf("entry %s: %w", rel, err)
		}
		if x.buf == nil {
			x.buf = make([]byte, 256<<10)
		}
		// writerOnly hides os.File's ReadFrom, which would allocate a
		// buffer per file.
		_, err = io.CopyBuffer(writerOnly{out}, e.body, x.buf)
		if err == nil {
			err = out.Chmod(e.mode.Perm() | 0o400)
		}
		if err == nil {
			ts := unix.NsecToTimeval(e.mtime.UnixNano())
			err = unix.Futimes(int(out.Fd()), []unix.Timeval{ts, ts})
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("entry %s: %w", rel, err)
		}
	case tar.TypeSymlink:
		if e.linkname == "" {
			return fmt.Errorf("entry %s: symlink with an empty target", rel)
		}
		if strings.HasPrefix(e.linkname, "/") {
			return fmt.Errorf("entry %s: symlink to an absolute path %s", rel, e.linkname)
		}
		if t := path.Join(path.Dir(rel), e.linkname); t == ".." || strings.HasPrefix(t, "../") {
			return fmt.Errorf("entry %s: symlink %s points outside the destination", rel, e.linkname)
		}
		x.dirCache = nil
		if err := os.Symlink(e.linkname, p); err != nil {
			return fmt.Errorf("entry %s: %w", rel, err)
		}
		x.links = append(x.links, rel)
		lchtimes(p, e.mtime)
	case tar.TypeLink:
		trel, err := cleanName(e.linkname)
		if err != nil || trel == "" {
			return fmt.Errorf("entry %s: bad hard link target %q", rel, e.linkname)
		}
		tdir, err := securejoin.SecureJoin(x.root, path.Dir(trel))
		if err != nil {
			return fmt.Errorf("entry %s: %w", rel, err)
		}
		target := filepath.Join(tdir, path.Base(trel))
		fi, err := os.Lstat(target)
		if err != nil {
			return fmt.Errorf("entry %s: hard link to %s: %w", rel, trel, err)
		}
		if fi.IsDir() {
			return fmt.Errorf("entry %s: hard link to directory %s", rel, trel)
		}
		if err := os.Link(target, p); err != nil {
			return fmt.Errorf("entry %s: %w", rel, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			x.links = append(x.links, rel)
		}
	}
	return nil
}

func lchtimes(p string, t time.Time) {
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	// Best effort: a symlink's time matters to nobody's build.
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// finish applies directory modes and times, deepest first, once their
// content is written.
func (x *extractor) finish() error {
	sort.SliceStable(x.dirs, func(i, j int) bool {
		return strings.Count(x.dirs[i].rel, "/") > strings.Count(x.dirs[j].rel, "/")
	})
	for _, d := range x.dirs {
		p, err := securejoin.SecureJoin(x.root, d.rel)
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() {
			continue // replaced by a later entry
		}
		if err := os.Chmod(p, d.mode); err != nil {
			return fmt.Errorf("entry %s: %w", d.rel, err)
		}
		if err := os.Chtimes(p, d.mtime, d.mtime); err != nil {
			return fmt.Errorf("entry %s: %w", d.rel, err)
		}
	}
	return nil
}

func (x *extractor) tar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		e := entry{name: h.Name, mode: fs.FileMode(h.Mode).Perm(), mtime: h.ModTime, linkname: h.Linkname, body: tr}
		if isSparse(h) {
			// Sparse entries expand holes to zeros: a few bytes of
			// archive can claim terabytes. Sources never need them.
			return fmt.Errorf("entry %s: sparse files are not supported", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeCont:
			e.kind = tar.TypeReg
		case tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
			e.kind = h.Typeflag
		default:
			continue // devices, fifos, global headers
		}
		if err := x.add(e); err != nil {
			return err
		}
	}
}

func isSparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func (x *extractor) zip(r io.ReaderAt, size int64) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return fmt.Errorf("read zip: %w", err)
	}
	for _, zf := range zr.File {
		mode := zf.Mode()
		e := entry{name: zf.Name, mode: mode.Perm(), mtime: zf.Modified}
		switch {
		case mode.IsDir() || strings.HasSuffix(zf.Name, "/"):
			e.kind = tar.TypeDir
		case mode&fs.ModeSymlink != 0:
			e.kind = tar.TypeSymlink
			target, err := readZipFile(zf, 4096)
			if err != nil {
				return err
			}
			e.linkname = string(target)
		case mode.IsRegular():
			e.kind = tar.TypeReg
		default:
			continue
		}
		if e.kind == tar.TypeReg {
			rc, err := zf.Open()
			if err != nil {
				return fmt.Errorf("read zip entry %s: %w", zf.Name, err)
			}
			e.body = rc
			err = x.add(e)
			rc.Close()
			if err != nil {
				return err
			}
			continue
		}
		if err := x.add(e); err != nil {
			return err
		}
	}
	return nil
}

func readZipFile(zf *zip.File, max int64) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("read zip entry %s: %w", zf.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("read zip entry %s: %w", zf.Name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("read zip entry %s: symlink target too long", zf.Name)
	}
	return b, nil
}

// moveUp moves what was extracted in tmp into dest, dropping the single
// top-level directory when there is one. It reports whether it did.
func moveUp(tmp, dest string) (bool, error) {
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return false, err
	}
	src := tmp
	stripped := false
	if len(ents) == 1 && ents[0].IsDir() {
		src = filepath.Join(tmp, ents[0].Name())
		stripped = true
		if ents, err = os.ReadDir(src); err != nil {
			return false, err
		}
	}
	for _, e := range ents {
		to := filepath.Join(dest, e.Name())
		if _, err := os.Lstat(to); err == nil {
			return false, fmt.Errorf("%s already exists in the destination", e.Name())
		}
		if err := os.Rename(filepath.Join(src, e.Name()), to); err != nil {
			return false, err
		}
	}
	return stripped, nil
}

// resolvesInside reports whether following rel (relative to root) through
// the symlinks on disk stays inside root, as the kernel would resolve it.
func resolvesInside(root, rel string) (bool, error) {
	var stack []string
	todo := strings.Split(rel, "/")
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return false, nil
			}
			stack = stack[:len(stack)-1]
			continue
		}
		p := filepath.Join(root, filepath.Join(stack...), c)
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			// A missing component ends the walk for the kernel; lexical
			// from here on is the worst case.
			stack = append(stack, c)
			continue
		}
		if hops++; hops > 255 {
			return false, fmt.Errorf("symlink %s: too many levels of symbolic links", rel)
		}
		t, err := os.Readlink(p)
		if err != nil {
			return false, err
		}
		if strings.HasPrefix(t, "/") {
			return false, nil
		}
		todo = append(strings.Split(t, "/"), todo...)
	}
	return true, nil
}
