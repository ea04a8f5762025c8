package rootfs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/hbuild/hbuild/source/debian"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

// UnsafeEntryError is an archive member that would leave the tree.
type UnsafeEntryError struct {
	Archive, Name, Why string
}

func (e *UnsafeEntryError) Error() string {
	return fmt.Sprintf("unpack %s: refuse member %q: %s", e.Archive, e.Name, e.Why)
}

// tree is a root directory being filled by several extractors at once.
// Paths inside it are resolved with securejoin, so that symbolic links are
// interpreted as if the tree were "/" and never lead outside it.
type tree struct {
	root string

	mu     sync.Mutex
	dirs   map[string]string // resolved directories: tree path -> host path
	claims map[string]*claim // host path -> the package that owns it
}

type claim struct {
	owner int
	done  chan struct{}
}

func newTree(root string) *tree {
	return &tree{root: root, dirs: map[string]string{}, claims: map[string]*claim{}}
}

// cleanName turns an archive member name into a tree path ("usr/bin/x"),
// "" for the root, or an error for names that climb out.
func cleanName(name string) (string, error) {
	n := strings.TrimLeft(name, "/")
	n = strings.TrimPrefix(n, "./")
	if n == "" || n == "." {
		return "", nil
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", errors.New("its path climbs out of the tree with a \"..\" component")
		}
	}
	n = path.Clean(n)
	if n == "." {
		return "", nil
	}
	return n, nil
}

// dir returns the host path of tree directory p, creating it (and its
// parents) with mode 0755 when missing.
func (t *tree) dir(p string) (string, error) {
	if p == "" || p == "." {
		return t.root, nil
	}
	t.mu.Lock()
	h, ok := t.dirs[p]
	t.mu.Unlock()
	if ok {
		return h, nil
	}
	h, err := securejoin.SecureJoin(t.root, p)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(h, 0o755); err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST) {
			return "", fmt.Errorf("create directory %s: a file is in the way", p)
		}
		return "", err
	}
	st, err := os.Lstat(h)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return "", fmt.Errorf("create directory %s: not a directory", p)
	}
	t.mu.Lock()
	t.dirs[p] = h
	t.mu.Unlock()
	return h, nil
}

// leaf returns the host path for a non-directory entry p: its parent
// resolved securely, its last component taken verbatim.
func (t *tree) leaf(p string) (string, error) {
	parent, err := t.dir(path.Dir(p))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, path.Base(p)), nil
}

// forgetDirs drops cached directory resolutions at or below p (a symbolic
// link replaced what was there).
func (t *tree) forgetDirs(p string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.dirs[p]; !ok {
		return
	}
	for k := range t.dirs {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(t.dirs, k)
		}
	}
}

// acquire claims host path h for package owner. Packages later in lock order
// win, as if they had been unpacked after: acquire returns false when a later
// package already owns h, and waits for an earlier one to finish writing.
func (t *tree) acquire(h string, owner int) (bool, func()) {
	for {
		t.mu.Lock()
		c := t.claims[h]
		if c == nil || c.owner < owner {
			if c != nil {
				done := c.done
				select {
				case <-done:
				default:
					t.mu.Unlock()
					<-done
					continue
				}
			}
			nc := &claim{owner: owner, done: make(chan struct{})}
			t.claims[h] = nc
			t.mu.Unlock()
			return true, func() { close(nc.done) }
		}
		if c.owner == owner {
			t.mu.Unlock()
			return true, func() {}
		}
		t.mu.Unlock()
		return false, nil
	}
}

// removeLeaf removes whatever non-directory is at h.
func removeLeaf(h string) error {
	st, err := os.Lstat(h)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("a directory is in the way")
	}
	return os.Remove(h)
}

// fileMode is the mode a member gets in the tree: permission bits and
// sticky kept, set-id bits dropped, and always readable by everybody so that
// an unprivileged sandbox can use a tree unpacked by root.
func fileMode(m int64, dir bool) os.FileMode {
	perm := os.FileMode(m) & 0o777
	if dir {
		perm |= 0o755
		if m&0o1000 != 0 {
			perm |= os.ModeSticky
		}
		return perm
	}
	perm |= 0o444
	if perm&0o100 != 0 {
		perm |= 0o111
	}
	return perm
}

// untar unpacks a tar stream into the tree as package owner. name is used
// in errors. Device nodes and fifos are skipped.
func (t *tree) untar(r io.Reader, name string, owner int) error {
	tr := tar.NewReader(r)
	buf := make([]byte, 256<<10)
	var dirModes []dirMode
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("unpack %s: %w", name, err)
		}
		p, err := cleanName(hdr.Name)
		if err != nil {
			return &UnsafeEntryError{Archive: name, Name: hdr.Name, Why: err.Error()}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			h, err := t.dir(p)
			if err != nil {
				return fmt.Errorf("unpack %s: %s: %w", name, hdr.Name, err)
			}
			if hdr.Mode&0o1000 != 0 {
				dirModes = append(dirModes, dirMode{h, fileMode(hdr.Mode, true)})
			}
		case tar.TypeReg:
			if p == "" {
				return &UnsafeEntryError{Archive: name, Name: hdr.Name, Why: "a file named like the root"}
			}
			if err := t.writeFile(p, tr, hdr, owner, buf); err != nil {
				return fmt.Errorf("unpack %s: %s: %w", name, hdr.Name, err)
			}
		case tar.TypeSymlink:
			if p == "" {
				return &UnsafeEntryError{Archive: name, Name: hdr.Name, Why: "a link named like the root"}
			}
			if err := t.symlink(p, hdr.Linkname, owner); err != nil {
				return fmt.Errorf("unpack %s: %s: %w", name, hdr.Name, err)
			}
		case tar.TypeLink:
			target, err := cleanName(hdr.Linkname)
			if err != nil || target == "" || p == "" {
				return &UnsafeEntryError{Archive: name, Name: hdr.Name, Why: "hard link to " + strconv.Quote(hdr.Linkname)}
			}
			if err := t.hardlink(p, target, owner); err != nil {
				return fmt.Errorf("unpack %s: %s: %w", name, hdr.Name, err)
			}
		default:
			// Devices, fifos and extended headers: nothing a build needs.
		}
	}
	for _, d := range dirModes {
		if err := os.Chmod(d.path, d.mode); err != nil {
			return fmt.Errorf("unpack %s: %w", name, err)
		}
	}
	return nil
}

type dirMode struct {
	path string
	mode os.FileMode
}

func (t *tree) writeFile(p string, r io.Reader, hdr *tar.Header, owner int, buf []byte) error {
	h, err := t.leaf(p)
	if err != nil {
		return err
	}
	ok, release := t.acquire(h, owner)
	if !ok {
		return nil
	}
	defer release()
	if err := removeLeaf(h); err != nil {
		return err
	}
	f, err := os.OpenFile(h, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(f, io.LimitReader(r, hdr.Size), buf); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(fileMode(hdr.Mode, false)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (t *tree) symlink(p, target string, owner int) error {
	if mergedDirs[p] != "" {
		return nil // the usr-merge links stay
	}
	h, err := t.leaf(p)
	if err != nil {
		return err
	}
	ok, release := t.acquire(h, owner)
	if !ok {
		return nil
	}
	defer release()
	if st, err := os.Lstat(h); err == nil {
		if st.IsDir() {
			// dpkg keeps an existing directory rather than replace it with
			// a link (usr-merge relies on this the other way round).
			return nil
		}
		if st.Mode()&os.ModeSymlink != 0 {
			t.forgetDirs(p)
		}
		if err := os.Remove(h); err != nil {
			return err
		}
	}
	if err := os.Symlink(target, h); err != nil {
		if st, serr := os.Lstat(h); serr == nil && st.IsDir() {
			return nil // another package made it a directory meanwhile
		}
		return err
	}
	return nil
}

func (t *tree) hardlink(p, target string, owner int) error {
	h, err := t.leaf(p)
	if err != nil {
		return err
	}
	src, err := securejoin.SecureJoin(t.root, target)
	if err != nil {
		return err
	}
	ok, release := t.acquire(h, owner)
	if !ok {
		return nil
	}
	defer release()
	if err := removeLeaf(h); err != nil {
		return err
	}
	st, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("hard link to %s: %w", target, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("hard link to %s: not a regular file", target)
	}
	if err := os.Link(src, h); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(h, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// debMember finds a member of a .deb (an ar archive) by name prefix and
// returns its name and a reader limited to it. Members before it are
// skipped; members are read in order, so call it in file order.
type arReader struct {
	r    *bufio.Reader
	name string
	left int64
	pad  bool
	pos  int64 // offset in the archive of the current member's data
	end  int64 // offset just after the current member's data
}

func newArReader(r io.Reader, name string) (*arReader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "!<arch>\n" {
		return nil, fmt.Errorf("read %s: not a .deb (no ar header)", name)
	}
	return &arReader{r: br, name: name, pos: 8, end: 8}, nil
}

// next skips to the next member and returns its name and size.
func (a *arReader) next() (string, int64, error) {
	if a.left > 0 {
		if _, err := io.CopyN(io.Discard, a.r, a.left); err != nil {
			return "", 0, fmt.Errorf("read %s: truncated: %w", a.name, err)
		}
		a.left = 0
	}
	if a.pad {
		if _, err := a.r.ReadByte(); err != nil {
			return "", 0, fmt.Errorf("read %s: truncated: %w", a.name, err)
		}
		a.pad = false
	}
	hdr := make([]byte, 60)
	if _, err := io.ReadFull(a.r, hdr); err != nil {
		if err == io.EOF {
			return "", 0, io.EOF
		}
		return "", 0, fmt.Errorf("read %s: truncated member header", a.name)
	}
	if string(hdr[58:60]) != "`\n" {
		return "", 0, fmt.Errorf("read %s: corrupt member header", a.name)
	}
	name := strings.TrimRight(strings.TrimSpace(string(hdr[0:16])), "/")
	size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
	if err != nil || size < 0 {
		return "", 0, fmt.Errorf("read %s: corrupt member size", a.name)
	}
	a.left = size
	a.pad = size%2 == 1
	a.pos = a.end + 60
	if a.end%2 == 1 {
		a.pos++
	}
	a.end = a.pos + size
	return name, size, nil
}

func (a *arReader) Read(p []byte) (int, error) {
	if a.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > a.left {
		p = p[:a.left]
	}
	n, err := a.r.Read(p)
	a.left -= int64(n)
	if err == io.EOF && a.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// decompressor wraps r according to a member's extension.
func decompressor(r io.Reader, member string) (io.Reader, func(), error) {
	switch {
	case strings.HasSuffix(member, ".xz"):
		z, err := xz.NewReader(r)
		return z, func() {}, err
	case strings.HasSuffix(member, ".zst"):
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, err
		}
		return z, z.Close, nil
	case strings.HasSuffix(member, ".gz"):
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, func() { z.Close() }, nil
	case strings.HasSuffix(member, ".tar"):
		return r, func() {}, nil
	}
	return nil, nil, fmt.Errorf("unknown compression of %s", member)
}

// unpackDeb reads a .deb: its control file (returned) and its data archive,
// which it unpacks into the tree. The data member is read straight from the
// file (so that an external xz reads it without a copy through Go).
func (t *tree) unpackDeb(f *os.File, name string, owner int) ([]byte, error) {
	ar, err := newArReader(f, name)
	if err != nil {
		return nil, err
	}
	var control []byte
	sawBinary := false
	for {
		member, size, err := ar.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch {
		case member == "debian-binary":
			sawBinary = true
		case strings.HasPrefix(member, "control.tar"):
			control, err = readControl(ar, member, name)
			if err != nil {
				return nil, err
			}
		case strings.HasPrefix(member, "data.tar"):
			if !sawBinary {
				return nil, fmt.Errorf("read %s: not a .deb (no debian-binary member)", name)
			}
			if st, err := f.Stat(); err != nil || st.Size() < ar.pos+size {
				return nil, fmt.Errorf("read %s: truncated: %s needs %d bytes", name, member, size)
			}
			z, closeZ, err := decompressFile(f, ar.pos, size, member)
			if err != nil {
				return nil, fmt.Errorf("read %s: %s: %w", name, member, err)
			}
			err = t.untar(z, name, owner)
			if cerr := closeZ(); err == nil && cerr != nil {
				err = fmt.Errorf("read %s: %s: %w", name, member, cerr)
			}
			if err != nil {
				return nil, err
			}
			return control, nil
		}
	}
	return nil, fmt.Errorf("read %s: truncated or corrupt: no data.tar member", name)
}

// decompressFile returns a reader of the decompressed member at [off,
// off+size) of f.
func decompressFile(f *os.File, off, size int64, member string) (io.Reader, func() error, error) {
	if strings.HasSuffix(member, ".xz") && xzPath() != "" {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return nil, nil, err
		}
		return externalXZ(f)
	}
	z, closeZ, err := decompressor(bufio.NewReaderSize(io.NewSectionReader(f, off, size), 1<<20), member)
	if err != nil {
		return nil, nil, err
	}
	return z, func() error { closeZ(); return nil }, nil
}

func readControl(r io.Reader, member, name string) ([]byte, error) {
	z, closeZ, err := decompressor(r, member)
	if err != nil {
		return nil, fmt.Errorf("read %s: %s: %w", name, member, err)
	}
	defer closeZ()
	tr := tar.NewReader(z)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("read %s: no control file", name)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %s: %w", name, member, err)
		}
		if n, _ := cleanName(hdr.Name); n == "control" {
			data, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			if err != nil {
				return nil, fmt.Errorf("read %s: control: %w", name, err)
			}
			return bytes.TrimRight(data, "\n"), nil
		}
	}
}

// unpackVerified checks that the .deb at path has the SHA-256 the lock
// names, then unpacks it; a cached file that does not match is removed, so
// the next build fetches it again.
func (t *tree) unpackVerified(path, name, sha string, owner int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		os.Remove(path)
		return nil, &debian.ChecksumError{What: name + " (in the download cache; removed, run again to fetch it)", Want: sha, Got: got}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return t.unpackDeb(f, name, owner)
}

var (
	xzOnce sync.Once
	xzBin  string
)

// xzPath is the host's xz, used to decompress data.tar.xz 3-4 times faster
// than the pure-Go decoder (which is used when there is none). Setting
// HBUILD_PURE_GO_XZ=1 forces the Go decoder.
func xzPath() string {
	xzOnce.Do(func() {
		if os.Getenv("HBUILD_PURE_GO_XZ") == "1" {
			return
		}
		if p, err := exec.LookPath("xz"); err == nil {
			xzBin = p
		}
	})
	return xzBin
}

// externalXZ decompresses the first .xz stream of f, from its current
// offset, with xz in a child process that reads f itself.
func externalXZ(f *os.File) (io.Reader, func() error, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	// A bigger pipe means fewer context switches between xz and us.
	_, _ = unix.FcntlInt(pw.Fd(), unix.F_SETPIPE_SZ, 1<<20)
	cmd := exec.Command(xzPath(), "--decompress", "--stdout", "--single-stream")
	cmd.Stdin = f
	cmd.Stdout = pw
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, nil, err
	}
	x := &xzProc{cmd: cmd, pipe: pr, out: bufio.NewReaderSize(pr, 1<<20), stderr: &stderr}
	return x, x.stop, nil
}

type xzProc struct {
	cmd    *exec.Cmd
	pipe   *os.File
	out    *bufio.Reader
	stderr *bytes.Buffer
	done   bool
	err    error
}

func (x *xzProc) Read(p []byte) (int, error) {
	n, err := x.out.Read(p)
	if err == io.EOF {
		if werr := x.wait(); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func (x *xzProc) wait() error {
	if !x.done {
		x.done = true
		if err := x.cmd.Wait(); err != nil {
			x.err = fmt.Errorf("xz: %s", strings.TrimSpace(x.stderr.String()))
			if x.stderr.Len() == 0 {
				x.err = fmt.Errorf("xz: %w", err)
			}
		}
	}
	return x.err
}

// stop ends the child (the tar reader may stop before the end) and reports
// how xz ended when it ran to completion.
func (x *xzProc) stop() error {
	x.pipe.Close()
	if !x.done {
		_ = x.cmd.Process.Kill()
		_ = x.wait()
		return nil
	}
	return x.err
}
