package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hbuild/hbuild/internal/testutil"
)

// rawLayer makes a gzip layer of hand-written tar entries (hostile ones
// included) and reads it back through LayerFromFile.
func rawLayer(t *testing.T, hdrs ...*tar.Header) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Linkname)) // content rides in Linkname for brevity
			data := h.Linkname
			h.Linkname = ""
			if h.Mode == 0 {
				h.Mode = 0o644
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write([]byte(data)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if h.Mode == 0 {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "layer.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := LayerFromFile(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func dirEntry(name string) *tar.Header { return &tar.Header{Typeflag: tar.TypeDir, Name: name} }
func fileEntry(name, data string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Linkname: data}
}

// listTree returns "path:kind[:content or target]" for everything under dir.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+":l:"+target)
		case fi.IsDir():
			out = append(out, rel+":d")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+":f:"+string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestExtractWhiteouts(t *testing.T) {
	outside := t.TempDir()
	lower := rawLayer(t,
		dirEntry("a/"), fileEntry("a/keep", "k"), fileEntry("a/gone", "g"),
		dirEntry("b/"), fileEntry("b/old", "o"), dirEntry("b/sub/"), fileEntry("b/sub/deep", "d"),
		dirEntry("c/"), fileEntry("c/x", "x"),
		&tar.Header{Typeflag: tar.TypeSymlink, Name: "lnk", Linkname: "a/keep"},
		fileEntry("replaced", "file"),
	)
	upper := rawLayer(t,
		fileEntry("a/.wh.gone", ""),
		dirEntry("b/"), fileEntry("b/new", "n"), fileEntry("b/.wh..wh..opq", ""), // new survives its own layer's opaque
		fileEntry(".wh.c", ""),
		dirEntry("replaced/"),
		&tar.Header{Typeflag: tar.TypeLink, Name: "a/hard", Linkname: "a/keep"},
		// Hostile entries stay inside the root.
		fileEntry("../../escape", "e1"),
		fileEntry("/abs/escape", "e2"),
		&tar.Header{Typeflag: tar.TypeSymlink, Name: "out", Linkname: outside},
		fileEntry("out/through-link", "e3"),
		&tar.Header{Typeflag: tar.TypeSymlink, Name: "up", Linkname: "../../.."},
		fileEntry("up/through-dotdot", "e4"),
		&tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Devmajor: 1, Devminor: 3, Mode: 0o666},
	)
	img, err := Assemble([]v1.Layer{lower}, []v1.Layer{upper}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "root")
	if err := Extract(img, dir); err != nil {
		t.Fatal(err)
	}
	got := listTree(t, dir)
	want := []string{
		"a:d", "a/hard:f:k", "a/keep:f:k",
		"abs:d", "abs/escape:f:e2",
		"b:d", "b/new:f:n",
		"escape:f:e1",
		"lnk:l:a/keep",
		"out:l:" + outside,
		"replaced:d",
		"up:l:../../..",
		// Entries through symlinks land inside the root, where the link
		// would point if the root were "/".
		strings.TrimPrefix(outside, "/") + "/through-link:f:e3",
		"through-dotdot:f:e4",
		"dev:d",
	}
	if os.Geteuid() == 0 {
		want = append(want, "dev/null:f:")
	}
	// Parent dirs of the link-resolved path.
	parts := strings.Split(strings.TrimPrefix(outside, "/"), "/")
	for i := 1; i <= len(parts); i++ {
		want = append(want, strings.Join(parts[:i], "/")+":d")
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("wrote outside the root: %v", ents)
	}
	if fi, err := os.Stat(filepath.Join(dir, "a/hard")); err == nil {
		if fk, _ := os.Stat(filepath.Join(dir, "a/keep")); !os.SameFile(fi, fk) {
			t.Error("hard link not linked")
		}
	}
}

func TestExtractRefusesEscapingHardLink(t *testing.T) {
	l := rawLayer(t, &tar.Header{Typeflag: tar.TypeLink, Name: "passwd", Linkname: "../../../../etc/passwd"})
	img, err := Assemble(nil, []v1.Layer{l}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = Extract(img, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not a regular file in the image") {
		t.Fatalf("error %v", err)
	}
}

// TestExtractRoundTrip: a layer of a tree extracts back to the same tree.
func TestExtractRoundTrip(t *testing.T) {
	src := filepath.Join(t.TempDir(), "tree")
	makeTree(t, src, treeVariant{umask: 0o022, mtime: testEpoch})
	lf := filepath.Join(t.TempDir(), "layer")
	info, err := WriteLayerFile(context.Background(), src, lf, LayerOptions{Prefix: "opt/p"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := LayerFromFile(lf, info)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Assemble(nil, []v1.Layer{l}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Extract(img, dir); err != nil {
		t.Fatal(err)
	}
	got, want := listTree(t, filepath.Join(dir, "opt/p")), listTree(t, src)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("round trip differs:\n%v\n%v", got, want)
	}
	fi, err := os.Stat(filepath.Join(dir, "opt/p/bin/private"))
	if err != nil || fi.Mode().Perm() != 0o755 || !fi.ModTime().Equal(DefaultEpoch) {
		t.Errorf("bin/private: %v %v", fi, err)
	}
}

// TestExtractRootless: without root, Extract skips device nodes and keeps
// the user's ownership instead of failing.
func TestExtractRootless(t *testing.T) {
	testutil.RequireNonRoot(t)
	l := rawLayer(t,
		dirEntry("dev/"),
		&tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Devmajor: 1, Devminor: 3, Mode: 0o666},
		&tar.Header{Typeflag: tar.TypeReg, Name: "etc/owned", Linkname: "x", Uid: 1000, Gid: 1000},
	)
	img, err := Assemble(nil, []v1.Layer{l}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Extract(img, dir); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(listTree(t, dir), " ")
	if got != "dev:d etc/owned:f:x etc:d" {
		t.Errorf("tree %s", got)
	}
}
