package image

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func layerOfDir(t *testing.T, dir string, epoch time.Time) v1.Layer {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "layer")
	info, err := WriteLayerFile(context.Background(), dir, dst, LayerOptions{Prefix: "p", Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	l, err := LayerFromFile(dst, info)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestDiffLayers(t *testing.T) {
	old := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	makeTree(t, a, treeVariant{umask: 0o022, mtime: testEpoch})
	makeTree(t, b, treeVariant{umask: 0o002, mtime: testEpoch, uid: 7})
	if d, err := DiffLayers(layerOfDir(t, a, testEpoch), layerOfDir(t, b, testEpoch)); err != nil || len(d) != 0 {
		t.Fatalf("same trees: %v %v", d, err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(b, "README"), []byte("changed\n"), 0o644))
	must(os.Chmod(filepath.Join(b, "lib/pkgconfig/zlib.pc"), 0o755))
	must(os.Chtimes(filepath.Join(b, "bin/private"), old, old))
	must(os.Remove(filepath.Join(b, "lib/libz.so.1")))
	must(os.Symlink("elsewhere", filepath.Join(b, "lib/libz.so.1")))
	must(os.Remove(filepath.Join(b, "share/tool")))
	must(os.WriteFile(filepath.Join(b, "new"), nil, 0o644))
	d, err := DiffLayers(layerOfDir(t, a, testEpoch), layerOfDir(t, b, testEpoch))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range d {
		got = append(got, x.Path+": "+strings.Join(x.What, ","))
		if x.String() == "" {
			t.Error("empty description")
		}
	}
	// Directories touched by the changes get the clamped epoch as in a.
	want := []string{
		"p/README: content",
		"p/bin/private: mtime",
		"p/lib/libz.so.1: link",
		"p/lib/pkgconfig/zlib.pc: mode",
		"p/new: only in b",
		"p/share/tool: only in a",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
