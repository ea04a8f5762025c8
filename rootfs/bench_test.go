package rootfs_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hbuild/hbuild/rootfs"
	"github.com/hbuild/hbuild/source/debian"
	"github.com/hbuild/hbuild/source/debian/debiantest"
)

// BenchmarkBuildLock builds a 20-package base (400 files, 8 MiB, xz) from a
// warm download cache: unpacking, fixups and the layer.
func BenchmarkBuildLock(b *testing.B) {
	var pkgs []debiantest.Package
	var names []string
	for i := 0; i < 20; i++ {
		p := debiantest.Package{Name: fmt.Sprintf("pkg%02d", i), Version: "1.0-1"}
		for j := 0; j < 20; j++ {
			p.Files = append(p.Files, debiantest.File{Path: fmt.Sprintf("usr/lib/pkg%02d/f%02d", i, j), Body: strings.Repeat(fmt.Sprintf("%d-%d ", i, j), 3000)})
		}
		pkgs = append(pkgs, p)
		names = append(names, p.Name)
	}
	a := debiantest.New(b)
	if err := a.Publish("stable", pkgs, nil); err != nil {
		b.Fatal(err)
	}
	cache := b.TempDir()
	opts := rootfs.Options{CacheDir: cache, Mirror: a.URL, Suites: []string{"stable"}, Keyring: a.Keyring}
	l, err := rootfs.Lock(context.Background(), names, filepath.Join(b.TempDir(), "x.lock"), opts)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := debian.FetchDebs(context.Background(), l, debian.Options{CacheDir: cache, Mirror: a.URL}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o := opts
		o.Epoch = time.Unix(int64(i+1), 0) // a new key each time: a real build
		o.Offline = true
		if _, err := rootfs.BuildLock(context.Background(), l, o); err != nil {
			b.Fatal(err)
		}
	}
}
