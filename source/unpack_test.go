package source

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbuild/hbuild/internal/testutil"
	"golang.org/x/sys/unix"
)

var epoch = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// tEntry describes an archive entry for fixtures.
type tEntry struct {
	name, body, link string
	kind             byte
	mode             int64
}

func makeTar(t testing.TB, entries []tEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.kind, Mode: e.mode, ModTime: epoch, Linkname: e.link, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func makeZip(t testing.TB, entries []tEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: epoch}
		mode := fs.FileMode(e.mode)
		switch e.kind {
		case tar.TypeDir:
			h.Name = strings.TrimSuffix(e.name, "/") + "/"
			mode |= fs.ModeDir
		case tar.TypeSymlink:
			mode |= fs.ModeSymlink
		}
		if mode.Perm() == 0 {
			mode |= 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		body := e.body
		if e.kind == tar.TypeSymlink {
			body = e.link
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// compress runs a system compressor (the same tools users make tarballs
// with) over data.
func compress(t testing.TB, tool string, data []byte, args ...string) []byte {
	t.Helper()
	testutil.RequireTool(t, tool)
	cmd := exec.Command(tool, args...)
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v: %s", tool, args, err, stderr.String())
	}
	return out.Bytes()
}

func gz(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var sampleTree = []tEntry{
	{name: "pkg-1.0/", kind: tar.TypeDir},
	{name: "pkg-1.0/configure", body: "#!/bin/sh\necho configured\n", mode: 0o755},
	{name: "pkg-1.0/README", body: "hello\n"},
	{name: "pkg-1.0/src/", kind: tar.TypeDir, mode: 0o555},
	{name: "pkg-1.0/src/main.c", body: "int main(void){return 0;}\n", mode: 0o4755},
	{name: "pkg-1.0/src/link.c", kind: tar.TypeSymlink, link: "main.c"},
	{name: "pkg-1.0/src/hard.c", kind: tar.TypeLink, link: "pkg-1.0/src/main.c"},
	{name: "pkg-1.0/" + strings.Repeat("long", 40) + ".txt", body: "a long name\n"},
}

// checkSample asserts sampleTree was unpacked under dir (prefix "" when
// stripped).
func checkSample(t *testing.T, dir, prefix string) {
	t.Helper()
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(dir, prefix, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read("configure"); got != "#!/bin/sh\necho configured\n" {
		t.Errorf("configure = %q", got)
	}
	if got := read("src/link.c"); got != "int main(void){return 0;}\n" {
		t.Errorf("link.c = %q", got)
	}
	if got := read(strings.Repeat("long", 40) + ".txt"); got != "a long name\n" {
		t.Errorf("long name = %q", got)
	}
	fi, err := os.Stat(filepath.Join(dir, prefix, "configure"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("configure mode %v, want 0755", fi.Mode())
	}
	if !fi.ModTime().Equal(epoch) {
		t.Errorf("configure mtime %v, want %v", fi.ModTime(), epoch)
	}
	main, err := os.Stat(filepath.Join(dir, prefix, "src/main.c"))
	if err != nil {
		t.Fatal(err)
	}
	if main.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 || main.Mode().Perm() != 0o755 {
		t.Errorf("main.c mode %v, want 0755 without setuid", main.Mode())
	}
	lfi, err := os.Lstat(filepath.Join(dir, prefix, "src/link.c"))
	if err != nil || lfi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("link.c is not a symlink: %v %v", lfi, err)
	}
	hard, err := os.Stat(filepath.Join(dir, prefix, "src/hard.c"))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(hard, main) {
		t.Errorf("hard.c is not a hard link of main.c")
	}
	src, err := os.Stat(filepath.Join(dir, prefix, "src"))
	if err != nil {
		t.Fatal(err)
	}
	if src.Mode().Perm() != 0o755 {
		t.Errorf("src mode %v, want 0755 (0555 plus owner write)", src.Mode().Perm())
	}
}

func TestUnpackFormats(t *testing.T) {
	tarball := makeTar(t, sampleTree)
	half := len(tarball) / 2
	cases := []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"pkg.tar", func(t *testing.T) []byte { return tarball }},
		{"pkg.tar.gz", func(t *testing.T) []byte { return gz(t, tarball) }},
		{"pkg.tgz", func(t *testing.T) []byte { return compress(t, "gzip", tarball, "-9nc") }},
		{"pkg.tar.bz2", func(t *testing.T) []byte { return compress(t, "bzip2", tarball, "-c") }},
		{"pkg.tar.xz", func(t *testing.T) []byte { return compress(t, "xz", tarball, "-c", "-T1") }},
		{"pkg.tar.zst", func(t *testing.T) []byte { return compress(t, "zstd", tarball, "-c", "-q") }},
		{"pkg.tar.lz", func(t *testing.T) []byte { return compress(t, "lzip", tarball, "-c") }},
		{"pkg-multimember.tar.lz", func(t *testing.T) []byte {
			a := compress(t, "lzip", tarball[:half], "-c")
			return append(a, compress(t, "lzip", tarball[half:], "-c", "-1")...)
		}},
		{"pkg.tar.lzma", func(t *testing.T) []byte { return compress(t, "xz", tarball, "-c", "--format=lzma") }},
		{"pkg.zip", func(t *testing.T) []byte {
			var z []tEntry
			for _, e := range sampleTree {
				if e.kind != tar.TypeLink { // zip has no hard links
					z = append(z, e)
				}
			}
			z = append(z, tEntry{name: "pkg-1.0/src/hard.c", body: "int main(void){return 0;}\n"})
			return makeZip(t, z)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			archive := filepath.Join(dir, "blob") // no extension: sniffed
			if err := os.WriteFile(archive, tc.data(t), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, mode := range []struct {
				strip, pureGo bool
			}{{false, false}, {true, false}, {false, true}, {true, true}} {
				strip := mode.strip
				dest := filepath.Join(dir, fmt.Sprintf("out-%v-%v", mode.strip, mode.pureGo))
				err := Unpack(archive, dest, UnpackOptions{StripTop: strip, Name: tc.name, PureGo: mode.pureGo})
				if err != nil {
					t.Fatalf("%+v: %v", mode, err)
				}
				if tc.name == "pkg.zip" {
					// no hard link; check the rest
					b, err := os.ReadFile(filepath.Join(dest, map[bool]string{false: "pkg-1.0", true: ""}[strip], "src/hard.c"))
					if err != nil || len(b) == 0 {
						t.Fatalf("zip hard.c: %v", err)
					}
					continue
				}
				if strip {
					checkSample(t, dest, "")
					ents, _ := os.ReadDir(dest)
					for _, e := range ents {
						if strings.HasPrefix(e.Name(), ".hbuild") || e.Name() == "pkg-1.0" {
							t.Errorf("left in dest after strip: %s", e.Name())
						}
					}
				} else {
					checkSample(t, dest, "pkg-1.0")
				}
			}
		})
	}
}

func TestUnpackByName(t *testing.T) {
	// An old v7 tar has no magic: the name must tell.
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: 2, Format: tar.FormatUSTAR, ModTime: epoch})
	tw.Write([]byte("hi"))
	tw.Close()
	data := b.Bytes()
	copy(data[257:265], make([]byte, 8)) // erase "ustar\x0000"
	// Fix the header checksum for the edited block.
	sum := 0
	for i, c := range data[:512] {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int(c)
	}
	copy(data[148:156], []byte(strings.Repeat("0", 0)+octal6(sum)+"\x00 "))
	dir := t.TempDir()
	archive := filepath.Join(dir, "blob")
	os.WriteFile(archive, data, 0o644)
	if err := Unpack(archive, filepath.Join(dir, "x"), UnpackOptions{}); err == nil || !strings.Contains(err.Error(), "unknown archive format") {
		t.Fatalf("without a name: err = %v, want unknown archive format", err)
	}
	if err := Unpack(archive, filepath.Join(dir, "y"), UnpackOptions{Name: "old.tar"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "y", "f")); string(got) != "hi" {
		t.Fatalf("f = %q", got)
	}
}

func octal6(n int) string {
	s := ""
	for i := 0; i < 6; i++ {
		s = string(rune('0'+n%8)) + s
		n /= 8
	}
	return s
}

func TestUnpackStripTop(t *testing.T) {
	cases := []struct {
		name    string
		entries []tEntry
		want    []string // paths that must exist in dest
	}{
		{"one dir", []tEntry{{name: "a/", kind: tar.TypeDir}, {name: "a/f", body: "x"}}, []string{"f"}},
		{"one dir implicit", []tEntry{{name: "a/b/f", body: "x"}}, []string{"b/f"}},
		{"two dirs", []tEntry{{name: "a/f", body: "x"}, {name: "b/g", body: "y"}}, []string{"a/f", "b/g"}},
		{"dir and file", []tEntry{{name: "a/f", body: "x"}, {name: "README", body: "y"}}, []string{"a/f", "README"}},
		{"single file", []tEntry{{name: "f", body: "x"}}, []string{"f"}},
		{"dot slash", []tEntry{{name: "./", kind: tar.TypeDir}, {name: "./a/", kind: tar.TypeDir}, {name: "./a/f", body: "x"}}, []string{"f"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			archive := filepath.Join(dir, "a.tar")
			os.WriteFile(archive, makeTar(t, tc.entries), 0o644)
			dest := filepath.Join(dir, "dest")
			if err := Unpack(archive, dest, UnpackOptions{StripTop: true}); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if _, err := os.Lstat(filepath.Join(dest, w)); err != nil {
					t.Errorf("missing %s: %v", w, err)
				}
			}
			ents, _ := os.ReadDir(dest)
			if got := len(ents); got != countTop(tc.want) {
				t.Errorf("dest has %d entries, want %d", got, countTop(tc.want))
			}
		})
	}
}

func countTop(paths []string) int {
	seen := map[string]bool{}
	for _, p := range paths {
		seen[strings.SplitN(p, "/", 2)[0]] = true
	}
	return len(seen)
}

func TestUnpackRefuses(t *testing.T) {
	cases := []struct {
		name    string
		entries []tEntry
		want    string
	}{
		{"absolute", []tEntry{{name: "/etc/evil", body: "x"}}, "absolute path"},
		{"dotdot", []tEntry{{name: "a/../../evil", body: "x"}}, `".." in path`},
		{"dotdot top", []tEntry{{name: "../evil", body: "x"}}, `".." in path`},
		{"absolute symlink", []tEntry{{name: "l", kind: tar.TypeSymlink, link: "/etc"}}, "absolute path"},
		{"escaping symlink", []tEntry{{name: "a/l", kind: tar.TypeSymlink, link: "../../etc"}}, "outside the destination"},
		{"symlink chain", []tEntry{
			{name: "a", kind: tar.TypeSymlink, link: "b/.."},
			{name: "b", kind: tar.TypeSymlink, link: "."},
		}, "outside the destination"},
		{"symlink chain deep", []tEntry{
			{name: "d/", kind: tar.TypeDir},
			{name: "d/x", kind: tar.TypeSymlink, link: "y/../.."},
			{name: "d/y", kind: tar.TypeSymlink, link: "."},
		}, "outside the destination"},
		{"hard link outside", []tEntry{{name: "h", kind: tar.TypeLink, link: "../../etc/passwd"}}, "bad hard link target"},
		{"hard link absolute", []tEntry{{name: "h", kind: tar.TypeLink, link: "/etc/passwd"}}, "bad hard link target"},
		{"hard link missing", []tEntry{{name: "h", kind: tar.TypeLink, link: "nothere"}}, "hard link to nothere"},
		{"file over dir", []tEntry{{name: "d/", kind: tar.TypeDir}, {name: "d/f", body: "x"}, {name: "d", body: "x"}}, "a directory is in the way"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			archive := filepath.Join(dir, "a.tar")
			os.WriteFile(archive, makeTar(t, tc.entries), 0o644)
			dest := filepath.Join(dir, "sub", "dest")
			err := Unpack(archive, dest, UnpackOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "unpack a.tar: ") {
				t.Errorf("error %q does not name the archive", err)
			}
			assertNothingOutside(t, filepath.Join(dir, "sub"), "dest")
		})
	}
}

// assertNothingOutside checks that parent holds nothing but dest.
func assertNothingOutside(t testing.TB, parent, dest string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != dest {
			t.Errorf("unpack wrote %s outside the destination", filepath.Join(parent, e.Name()))
		}
	}
}

func TestUnpackSymlinkNotFollowed(t *testing.T) {
	// A symlink to a directory inside dest, then a file through it: the
	// file lands inside dest, never through a link that leaves it.
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	os.Mkdir(outside, 0o755)
	archive := filepath.Join(dir, "a.tar")
	os.WriteFile(archive, makeTar(t, []tEntry{
		{name: "real/", kind: tar.TypeDir},
		{name: "l", kind: tar.TypeSymlink, link: "real"},
		{name: "l/f", body: "through the link"},
		{name: "real/g", body: "g"},
		{name: "l", body: "replaces the link"},
	}), 0o644)
	dest := filepath.Join(dir, "dest")
	if err := Unpack(archive, dest, UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "real", "f")); string(b) != "through the link" {
		t.Errorf("real/f = %q", b)
	}
	fi, err := os.Lstat(filepath.Join(dest, "l"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Errorf("l should have become a regular file: %v %v", fi, err)
	}
	// Pre-existing link in dest pointing outside: writing through it is
	// clamped to dest by securejoin, so nothing appears outside.
	dest2 := filepath.Join(dir, "dest2")
	os.Mkdir(dest2, 0o755)
	os.Symlink(outside, filepath.Join(dest2, "escape"))
	archive2 := filepath.Join(dir, "b.tar")
	os.WriteFile(archive2, makeTar(t, []tEntry{{name: "escape/x", body: "evil"}}), 0o644)
	Unpack(archive2, dest2, UnpackOptions{})
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("a file was written outside dest through a symlink: %v", ents)
	}
}

func TestUnpackCorrupt(t *testing.T) {
	tarball := makeTar(t, sampleTree)
	lz := compress(t, "lzip", tarball, "-c")
	bad := append([]byte(nil), lz...)
	bad[len(bad)-15] ^= 0xff // the stored size in the trailer
	xzdata := compress(t, "xz", tarball, "-c")
	badxz := append([]byte(nil), xzdata...)
	badxz[len(badxz)/2] ^= 0xff
	cases := []struct {
		name         string
		data         []byte
		want, wantGo string // error with the host tool, in-process
	}{
		{"truncated gzip", gz(t, tarball)[:100], "unexpected EOF", "unexpected EOF"},
		{"gzip of not a tar", gz(t, []byte(strings.Repeat("not a tar ", 100))), "not a tar archive", "not a tar archive"},
		{"lzip trailer", bad, "lzip: exit status", "lzip: size mismatch"},
		{"truncated lzip", lz[:len(lz)-10], "lzip: exit status", "lzip"},
		{"corrupt xz", badxz, "xz: exit status", "xz"},
		{"truncated xz", xzdata[:len(xzdata)-30], "xz: exit status", "xz"},
	}
	for _, tc := range cases {
		for _, pureGo := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/purego=%v", tc.name, pureGo), func(t *testing.T) {
				dir := t.TempDir()
				archive := filepath.Join(dir, "a")
				os.WriteFile(archive, tc.data, 0o644)
				err := Unpack(archive, filepath.Join(dir, "dest"), UnpackOptions{PureGo: pureGo})
				want := tc.want
				if pureGo {
					want = tc.wantGo
				}
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want %q", err, want)
				}
			})
		}
	}
}

func FuzzUnpackTar(f *testing.F) {
	f.Add(makeTar(f, sampleTree))
	f.Add(makeTar(f, []tEntry{{name: "a", kind: tar.TypeSymlink, link: "b/.."}, {name: "b", kind: tar.TypeSymlink, link: "."}, {name: "a/x", body: "x"}}))
	f.Add(makeTar(f, []tEntry{{name: "l", kind: tar.TypeSymlink, link: "."}, {name: "l/l/l/f", body: "x"}, {name: "h", kind: tar.TypeLink, link: "l/l/f"}}))
	// Each input creates and removes a few directories; on ext4 under
	// load that is the bottleneck, so work in tmpfs when there is one.
	base := fuzzBase(f)
	lowerLzipDict(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir, err := os.MkdirTemp(base, "in-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		archive := filepath.Join(dir, "a.tar")
		if err := os.WriteFile(archive, data, 0o644); err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, "sub")
		os.Mkdir(sub, 0o755)
		dest := filepath.Join(sub, "dest")
		err = Unpack(archive, dest, UnpackOptions{Name: "a.tar", StripTop: len(data)%2 == 0, PureGo: true})
		assertNothingOutside(t, sub, "dest")
		if err != nil {
			return
		}
		// Every symlink left must resolve inside dest.
		filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			rel, _ := filepath.Rel(dest, p)
			inside, rerr := resolvesInside(dest, filepath.ToSlash(rel))
			if rerr == nil && !inside {
				target, _ := os.Readlink(p)
				t.Errorf("symlink %s -> %s escapes", rel, target)
			}
			return nil
		})
	})
}

// fuzzBase returns a private directory for fuzz inputs, in /dev/shm when
// it is a writable tmpfs.
func fuzzBase(f *testing.F) string {
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) == nil && st.Type == unix.TMPFS_MAGIC {
		if d, err := os.MkdirTemp("/dev/shm", "hbuild-fuzz-"); err == nil {
			f.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return f.TempDir()
}

// lowerLzipDict keeps fuzzed lzip headers from allocating 512 MiB
// dictionaries for the length of a fuzz target.
func lowerLzipDict(f *testing.F) {
	old := lzipMaxDict
	lzipMaxDict = 8 << 20
	f.Cleanup(func() { lzipMaxDict = old })
}

func FuzzLzip(f *testing.F) {
	lzipTool := testutil.RequireTool(f, "lzip")
	for _, in := range []string{"", "hello hello hello\n", strings.Repeat("abc", 1000)} {
		cmd := exec.Command(lzipTool, "-c")
		cmd.Stdin = strings.NewReader(in)
		out, err := cmd.Output()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(out)
		f.Add(append(out, out...)) // two members
	}
	lowerLzipDict(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		z, err := newLzipReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		io.Copy(io.Discard, io.LimitReader(z, 64<<20))
	})
}

func TestUnpackZipRefuses(t *testing.T) {
	cases := []struct {
		name    string
		entries []tEntry
		want    string
	}{
		{"absolute", []tEntry{{name: "/etc/evil", body: "x"}}, "absolute path"},
		{"dotdot", []tEntry{{name: "a/../../evil", body: "x"}}, `".." in path`},
		{"escaping symlink", []tEntry{{name: "l", kind: tar.TypeSymlink, link: "../x"}}, "outside the destination"},
		{"symlink chain", []tEntry{
			{name: "a", kind: tar.TypeSymlink, link: "b/.."},
			{name: "b", kind: tar.TypeSymlink, link: "."},
		}, "outside the destination"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			archive := filepath.Join(dir, "a.zip")
			os.WriteFile(archive, makeZip(t, tc.entries), 0o644)
			dest := filepath.Join(dir, "sub", "dest")
			err := Unpack(archive, dest, UnpackOptions{StripTop: true})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			assertNothingOutside(t, filepath.Join(dir, "sub"), "dest")
		})
	}
}
