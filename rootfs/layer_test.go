package rootfs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/hbuild/hbuild/image"
	"github.com/hbuild/hbuild/rootfs"
	"golang.org/x/sys/unix"
)

// The layer a build stores is the one image.WriteLayer makes of the stored
// tree, byte for byte, and its digest is the base's Digest: the value part
// keys are made of.
func TestStoredLayerIsTheTreesLayer(t *testing.T) {
	for _, compression := range []string{"gzip", "zstd"} {
		t.Run(compression, func(t *testing.T) {
			f := newFake(t, basePackages())
			opts := f.opts
			opts.Compression = compression
			b, err := rootfs.Build(context.Background(), []string{"gcc", "dash"}, filepath.Join(t.TempDir(), "base.lock"), opts)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := os.ReadFile(b.Layer)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(stored)
			if got := "sha256:" + hex.EncodeToString(sum[:]); got != b.Digest || int64(len(stored)) != b.Size {
				t.Errorf("stored layer: %s, %d bytes; base says %s, %d bytes", got, len(stored), b.Digest, b.Size)
			}
			var again bytes.Buffer
			info, err := image.WriteLayer(context.Background(), b.Dir, &again, image.LayerOptions{Compression: compression})
			if err != nil {
				t.Fatal(err)
			}
			if info.Digest != b.Digest || info.DiffID != b.DiffID || info.MediaType != b.MediaType || !bytes.Equal(again.Bytes(), stored) {
				t.Errorf("layer of the stored tree: %+v, base %+v", info, b)
			}
			if entries, _ := filepath.Glob(filepath.Join(filepath.Dir(b.Layer), ".*")); len(entries) != 0 {
				t.Errorf("temporary files left in the entry: %v", entries)
			}
		})
	}
}

// The directory of the bases carries the top-directory flag (chattr +T)
// wherever the file system keeps it, so that ext4 puts each new base in a
// block group of its own.
func TestBasesDirIsTopDir(t *testing.T) {
	const topDir = 0x00020000 // FS_TOPDIR_FL
	f := newFake(t, basePackages())
	if _, err := rootfs.Build(context.Background(), []string{"dash"}, filepath.Join(t.TempDir(), "base.lock"), f.opts); err != nil {
		t.Fatal(err)
	}
	flags := func(dir string) (uint32, error) {
		d, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		return unix.IoctlGetUint32(int(d.Fd()), unix.FS_IOC_GETFLAGS)
	}
	// Does this file system keep the flag? Ask it on a scratch directory.
	probe := filepath.Join(f.opts.CacheDir, "probe")
	if err := os.Mkdir(probe, 0o755); err != nil {
		t.Fatal(err)
	}
	keeps := false
	if pf, err := flags(probe); err == nil {
		d, err := os.Open(probe)
		if err != nil {
			t.Fatal(err)
		}
		if unix.IoctlSetPointerInt(int(d.Fd()), unix.FS_IOC_SETFLAGS, int(pf|topDir)) == nil {
			pf, err = flags(probe)
			keeps = err == nil && pf&topDir != 0
		}
		d.Close()
	}
	got, err := flags(filepath.Join(f.opts.CacheDir, "bases"))
	if keeps && (err != nil || got&topDir == 0) {
		t.Errorf("bases directory flags %#x (%v): no FS_TOPDIR_FL although the file system keeps it", got, err)
	}
	t.Logf("file system keeps the flag: %v", keeps)
}
