package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hbuild/hbuild/internal/testutil"
	"golang.org/x/sys/unix"
)

var testEpoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// treeVariant varies what must not show in a layer.
type treeVariant struct {
	umask int       // applied to every created mode
	mtime time.Time // of every entry
	uid   int       // owner (only applied as root)
	order []int     // creation order of the regular files
}

const longName = "a-very-long-directory-name-that-does-not-fit-into-the-ustar-name-field-of-one-hundred-bytes/and-a-long-file-name.txt"

// makeTree builds the same logical tree with the variant's incidental
// differences.
func makeTree(t *testing.T, dir string, v treeVariant) {
	t.Helper()
	mode := func(m os.FileMode) os.FileMode { return m &^ os.FileMode(v.umask) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "lib/pkgconfig", "share/empty", filepath.Dir(longName)} {
		must(os.MkdirAll(filepath.Join(dir, d), mode(0o777)))
	}
	files := []struct {
		name string
		data string
		perm os.FileMode
	}{
		{"bin/tool", "#!/bin/sh\necho tool\n", 0o777},
		{"lib/libz.so.1.3", strings.Repeat("ELF pretend ", 5000), 0o777},
		{"lib/pkgconfig/zlib.pc", "prefix=/opt\n", 0o666},
		{"README", "read me\n", 0o666},
		{longName, "long\n", 0o666},
		{"bin/private", "secret\n", 0o700},
		{"lib/big.a", bigData(), 0o666},
	}
	order := v.order
	if order == nil {
		order = []int{0, 1, 2, 3, 4, 5, 6}
	}
	for _, i := range order {
		f := files[i]
		p := filepath.Join(dir, f.name)
		must(os.WriteFile(p, []byte(f.data), mode(f.perm)))
		must(os.Chmod(p, mode(f.perm)))
	}
	must(os.Symlink("libz.so.1.3", filepath.Join(dir, "lib/libz.so.1")))
	must(os.Symlink("../lib/libz.so.1", filepath.Join(dir, "bin/dangling-ok")))
	// Hard links: "bin/tool" is first in walk order; "bin/tool-alias" and
	// "share/tool" link to it.
	must(os.Link(filepath.Join(dir, "bin/tool"), filepath.Join(dir, "share/tool")))
	must(os.Link(filepath.Join(dir, "bin/tool"), filepath.Join(dir, "bin/tool-alias")))
	must(filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if os.Geteuid() == 0 {
			if err := os.Lchown(p, v.uid, v.uid); err != nil {
				return err
			}
		}
		if fi.Mode()&os.ModeSymlink == 0 && fi.IsDir() {
			if err := os.Chmod(p, mode(0o777)); err != nil {
				return err
			}
		}
		ts := []unix.Timespec{unix.NsecToTimespec(v.mtime.UnixNano()), unix.NsecToTimespec(v.mtime.UnixNano())}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	}))
}

// bigData is 3 MiB of poorly compressible, deterministic bytes, so that
// gzip uses several blocks.
func bigData() string {
	b := make([]byte, 0, 3<<20)
	h := sha256.Sum256([]byte("hbuild"))
	for len(b) < 3<<20 {
		b = append(b, h[:]...)
		h = sha256.Sum256(h[:])
	}
	return string(b)
}

func layerBytes(t *testing.T, dir string, opts LayerOptions) ([]byte, *LayerInfo) {
	t.Helper()
	var buf bytes.Buffer
	info, err := WriteLayer(context.Background(), dir, &buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), info
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

type tarEntry struct {
	name, link string
	typ        byte
	mode       int64
	uid, gid   int
	mtime      time.Time
	size       int64
	pax        map[string]string
	uname      string
}

func readTar(t *testing.T, r io.Reader) []tarEntry {
	t.Helper()
	tr := tar.NewReader(r)
	var out []tarEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{h.Name, h.Linkname, h.Typeflag, h.Mode, h.Uid, h.Gid, h.ModTime, h.Size, h.PAXRecords, h.Uname + h.Gname})
	}
}

func decompressed(t *testing.T, b []byte, mt string) []byte {
	t.Helper()
	rc, err := decompressReader(bytes.NewReader(b), types.MediaType(mt))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLayerDeterministic(t *testing.T) {
	variants := []treeVariant{
		{umask: 0o022, mtime: time.Date(2025, 5, 5, 5, 5, 5, 123456789, time.UTC), uid: 0},
		{umask: 0o002, mtime: time.Date(2026, 6, 6, 6, 6, 6, 987, time.UTC), uid: 1000, order: []int{6, 5, 4, 3, 2, 1, 0}},
		{umask: 0o077, mtime: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), uid: 4242, order: []int{2, 0, 6, 4, 1, 5, 3}},
	}
	for _, comp := range []string{"gzip", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			opts := LayerOptions{Prefix: "opt/hbuild/parts/zlib", Epoch: testEpoch, Compression: comp}
			var first []byte
			var firstInfo *LayerInfo
			for i, v := range variants {
				dir := filepath.Join(t.TempDir(), "tree")
				makeTree(t, dir, v)
				b, info := layerBytes(t, dir, opts)
				if info.Digest != sha(b) || info.Size != int64(len(b)) {
					t.Fatalf("digest %s size %d, blob has %s size %d", info.Digest, info.Size, sha(b), len(b))
				}
				if got := sha(decompressed(t, b, info.MediaType)); got != info.DiffID {
					t.Fatalf("diff ID %s, uncompressed tar has %s", info.DiffID, got)
				}
				if i == 0 {
					first, firstInfo = b, info
					continue
				}
				if !bytes.Equal(b, first) || *info != *firstInfo {
					t.Errorf("variant %d: %+v differs from %+v", i, info, firstInfo)
				}
			}
			// The same layer with other concurrency gives the same bytes.
			dir := filepath.Join(t.TempDir(), "tree")
			makeTree(t, dir, variants[0])
			old := runtime.GOMAXPROCS(1)
			b, _ := layerBytes(t, dir, opts)
			runtime.GOMAXPROCS(old)
			if !bytes.Equal(b, first) {
				t.Error("layer differs with GOMAXPROCS=1")
			}
		})
	}
}

func TestLayerEntries(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tree")
	makeTree(t, dir, treeVariant{umask: 0o002, mtime: time.Date(2025, 1, 1, 0, 0, 0, 5, time.UTC), uid: 1000})
	old := time.Date(2001, 2, 3, 4, 5, 6, 700, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "README"), old, old); err != nil {
		t.Fatal(err)
	}
	b, info := layerBytes(t, dir, LayerOptions{Prefix: "/opt/hbuild/parts/zlib/", Epoch: testEpoch})
	if info.MediaType != MediaTypeGzip {
		t.Errorf("media type %s", info.MediaType)
	}
	ents := readTar(t, bytes.NewReader(decompressed(t, b, info.MediaType)))
	p := "opt/hbuild/parts/zlib/"
	want := []tarEntry{
		{name: "opt/", typ: tar.TypeDir, mode: 0o755},
		{name: "opt/hbuild/", typ: tar.TypeDir, mode: 0o755},
		{name: "opt/hbuild/parts/", typ: tar.TypeDir, mode: 0o755},
		{name: p, typ: tar.TypeDir, mode: 0o755},
		{name: p + "README", typ: tar.TypeReg, mode: 0o644, size: 8, mtime: old.Truncate(time.Second)},
		{name: p + filepath.Dir(longName) + "/", typ: tar.TypeDir, mode: 0o755},
		{name: p + longName, typ: tar.TypeReg, mode: 0o644, size: 5},
		{name: p + "bin/", typ: tar.TypeDir, mode: 0o755},
		{name: p + "bin/dangling-ok", typ: tar.TypeSymlink, mode: 0o777, link: "../lib/libz.so.1"},
		{name: p + "bin/private", typ: tar.TypeReg, mode: 0o755, size: 7},
		{name: p + "bin/tool", typ: tar.TypeReg, mode: 0o755, size: 20},
		{name: p + "bin/tool-alias", typ: tar.TypeLink, mode: 0o755, link: p + "bin/tool"},
		{name: p + "lib/", typ: tar.TypeDir, mode: 0o755},
		{name: p + "lib/big.a", typ: tar.TypeReg, mode: 0o644, size: 3 << 20},
		{name: p + "lib/libz.so.1", typ: tar.TypeSymlink, mode: 0o777, link: "libz.so.1.3"},
		{name: p + "lib/libz.so.1.3", typ: tar.TypeReg, mode: 0o755, size: 60000},
		{name: p + "lib/pkgconfig/", typ: tar.TypeDir, mode: 0o755},
		{name: p + "lib/pkgconfig/zlib.pc", typ: tar.TypeReg, mode: 0o644, size: 12},
		{name: p + "share/", typ: tar.TypeDir, mode: 0o755},
		{name: p + "share/empty/", typ: tar.TypeDir, mode: 0o755},
		{name: p + "share/tool", typ: tar.TypeLink, mode: 0o755, link: p + "bin/tool"},
	}
	if len(ents) != len(want) {
		for _, e := range ents {
			t.Logf("%c %s", e.typ, e.name)
		}
		t.Fatalf("%d entries, want %d", len(ents), len(want))
	}
	for i, w := range want {
		e := ents[i]
		if w.mtime.IsZero() {
			w.mtime = testEpoch
		}
		if e.name != w.name || e.typ != w.typ || e.mode != w.mode || e.link != w.link || e.size != w.size || !e.mtime.Equal(w.mtime) {
			t.Errorf("entry %d: got %c %s %o -> %q size %d %s; want %c %s %o -> %q size %d %s", i,
				e.typ, e.name, e.mode, e.link, e.size, e.mtime, w.typ, w.name, w.mode, w.link, w.size, w.mtime)
		}
		if e.uid != 0 || e.gid != 0 || e.uname != "" {
			t.Errorf("%s: owner %d:%d %q", e.name, e.uid, e.gid, e.uname)
		}
		for k := range e.pax {
			if k == "atime" || k == "ctime" || k == "mtime" {
				t.Errorf("%s: PAX record %s", e.name, k)
			}
		}
	}
}

func TestLayerNoPrefix(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, info := layerBytes(t, dir, LayerOptions{})
	ents := readTar(t, bytes.NewReader(decompressed(t, b, info.MediaType)))
	if len(ents) != 1 || ents[0].name != "f" || ents[0].mode != 0o644 || !ents[0].mtime.Equal(DefaultEpoch) {
		t.Fatalf("entries %+v", ents)
	}
}

func TestLayerSymlinkedRoot(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	makeTree(t, real, treeVariant{mtime: testEpoch})
	if err := os.Symlink("real", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	_, viaLink := layerBytes(t, filepath.Join(dir, "link"), LayerOptions{Prefix: "p"})
	_, direct := layerBytes(t, real, LayerOptions{Prefix: "p"})
	if *viaLink != *direct {
		t.Errorf("through a symlink %+v, direct %+v", viaLink, direct)
	}
}

func TestLayerEmptyDir(t *testing.T) {
	b, info := layerBytes(t, t.TempDir(), LayerOptions{Prefix: "a/b"})
	ents := readTar(t, bytes.NewReader(decompressed(t, b, info.MediaType)))
	if len(ents) != 2 || ents[0].name != "a/" || ents[1].name != "a/b/" {
		t.Fatalf("entries %+v", ents)
	}
}

func TestLayerRefusesSpecialFiles(t *testing.T) {
	for _, kind := range []string{"FIFO", "socket"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "special")
			switch kind {
			case "FIFO":
				if err := unix.Mkfifo(p, 0o644); err != nil {
					t.Fatal(err)
				}
			case "socket":
				// A socket path must be short: bind in the directory.
				ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
			}
			dst := filepath.Join(t.TempDir(), "layer.tar.gz")
			_, err := WriteLayerFile(context.Background(), dir, dst, LayerOptions{})
			if err == nil || !strings.Contains(err.Error(), p+" is a "+kind) {
				t.Fatalf("error %v, want one naming %s as a %s", err, p, kind)
			}
			assertOnly(t, filepath.Dir(dst), nil)
		})
	}
}

// assertOnly checks that dir holds exactly the names given.
func assertOnly(t *testing.T, dir string, names []string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
}

func TestLayerBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []LayerOptions{{Prefix: "a/../b"}, {Prefix: "../x"}, {Compression: "bzip2"}} {
		if _, err := WriteLayer(context.Background(), dir, io.Discard, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if _, err := WriteLayer(context.Background(), filepath.Join(dir, "missing"), io.Discard, LayerOptions{}); err == nil {
		t.Error("missing dir: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := WriteLayer(ctx, dir, io.Discard, LayerOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestLayerXattrs(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "ping")
	if err := os.WriteFile(p, []byte("bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	// What setcap cap_net_raw+ep writes: VFS_CAP_REVISION_2, effective,
	// permitted bit 13 (CAP_NET_RAW).
	capData := []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if err := unix.Lsetxattr(p, "security.capability", capData, 0); err != nil {
		testutil.Require(t, false, "set security.capability on "+p+": "+err.Error())
	}
	want, err := getxattr(p, "security.capability")
	if err != nil || want == nil {
		t.Fatalf("security.capability not set: %v", err)
	}
	userXattr := unix.Lsetxattr(p, "user.hbuild-test", []byte("dropped"), 0)
	b, info := layerBytes(t, dir, LayerOptions{})
	ents := readTar(t, bytes.NewReader(decompressed(t, b, info.MediaType)))
	if len(ents) != 1 {
		t.Fatalf("entries %+v", ents)
	}
	if got := ents[0].pax["SCHILY.xattr.security.capability"]; got != string(want) {
		t.Errorf("capability %q, want %q", got, want)
	}
	if userXattr == nil {
		if _, ok := ents[0].pax["SCHILY.xattr.user.hbuild-test"]; ok {
			t.Error("user xattr kept")
		}
	}
	if len(ents[0].pax) != 1 {
		t.Errorf("PAX records %v", ents[0].pax)
	}
}

// TestLayerFullDisk writes a layer to a 1 MiB tmpfs: a clean error, no
// file left behind.
func TestLayerFullDisk(t *testing.T) {
	testutil.RequireRoot(t)
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		testutil.Require(t, false, "mount tmpfs: "+err.Error())
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	src := t.TempDir()
	// 8 MiB that compress poorly.
	data := make([]byte, 8<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := WriteLayerFile(context.Background(), src, filepath.Join(mnt, "layer.tar.gz"), LayerOptions{})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v, want ENOSPC", err)
	}
	assertOnly(t, mnt, nil)
}

func TestWriteLayerFileAndLayerFromFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tree")
	makeTree(t, dir, treeVariant{umask: 0o022, mtime: testEpoch})
	for _, comp := range []string{"gzip", "zstd"} {
		dst := filepath.Join(t.TempDir(), "layer")
		info, err := WriteLayerFile(context.Background(), dir, dst, LayerOptions{Compression: comp})
		if err != nil {
			t.Fatal(err)
		}
		assertOnly(t, filepath.Dir(dst), []string{"layer"})
		sniffed, err := inspectBlob(dst)
		if err != nil {
			t.Fatal(err)
		}
		if *sniffed != *info {
			t.Errorf("%s: inspected %+v, written %+v", comp, sniffed, info)
		}
		for _, in := range []*LayerInfo{info, nil} {
			l, err := LayerFromFile(dst, in)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := l.Digest()
			di, _ := l.DiffID()
			mt, _ := l.MediaType()
			if d.String() != info.Digest || di.String() != info.DiffID || string(mt) != info.MediaType {
				t.Errorf("%s: layer %s %s %s, want %+v", comp, d, di, mt, info)
			}
			rc, err := l.Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			if n := len(readTar(t, rc)); n != 17 {
				t.Errorf("%s: %d entries", comp, n)
			}
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := LayerFromFile(filepath.Join(dir, "README"), nil); err == nil {
		t.Error("a text file taken as a layer")
	}
}

func BenchmarkWriteLayer(b *testing.B) {
	dir := b.TempDir()
	data := bytes.Repeat([]byte("hbuild layer benchmark data, somewhat compressible. "), 20000)
	for i := 0; i < 32; i++ {
		if err := os.WriteFile(filepath.Join(dir, "f"+string(rune('a'+i%26))+string(rune('a'+i/26))), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, comp := range []string{"gzip", "zstd"} {
		b.Run(comp, func(b *testing.B) {
			b.SetBytes(int64(32 * len(data)))
			for i := 0; i < b.N; i++ {
				if _, err := WriteLayer(context.Background(), dir, io.Discard, LayerOptions{Compression: comp}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
