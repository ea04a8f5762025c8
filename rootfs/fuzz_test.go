package rootfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hbuild/hbuild/source/debian/debiantest"
)

// FuzzUnpackDeb feeds arbitrary bytes to the .deb unpacker: it may refuse
// them, but must never write outside the tree.
func FuzzUnpackDeb(f *testing.F) {
	deb, err := debiantest.BuildDeb(debiantest.Package{Name: "a", Version: "1", Compression: "none", Files: []debiantest.File{
		{Path: "usr/bin/a", Body: "a", Mode: 0o755},
		{Path: "usr/lib/l", Type: '2', Link: "../../.."},
		{Path: "usr/lib/l/x", Body: "x"},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(deb)
	f.Add([]byte("!<arch>\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		root := filepath.Join(dir, "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := prepareTree(root); err != nil {
			t.Fatal(err)
		}
		debPath := filepath.Join(dir, "fuzz.deb")
		if err := os.WriteFile(debPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(debPath)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = newTree(root).unpackDeb(f, "fuzz.deb", 0)
		f.Close()
		if err := os.Remove(debPath); err != nil {
			t.Fatal(err)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 {
			t.Fatalf("unpacking wrote outside the tree: %v", ents)
		}
	})
}
