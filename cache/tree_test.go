package cache

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestDeferredTrees: pulls with DeferTrees store the layer and metadata
// only, checked in full; EnsureTree unpacks the tree once, whoever asks.
func TestDeferredTrees(t *testing.T) {
	reg := newMemRegistry(t)
	ctx := context.Background()
	pusher := openRemote(t, reg.host(), RemoteOptions{})
	var built []*Entry
	var keys []string
	for _, p := range []string{"zlib", "libxml2", "xz"} {
		e := builtPart(t, openStore(t), rkey("defer-"+p), p, p, nil)
		mustPush(t, pusher, e)
		built, keys = append(built, e), append(keys, e.Key)
	}
	s := openStore(t)
	r := openRemote(t, reg.host(), RemoteOptions{DeferTrees: true})
	pulled, ws := r.Prefetch(ctx, s, keys)
	if len(ws) != 0 || len(pulled) != len(keys) {
		t.Fatalf("prefetch: %v %v", pulled, ws)
	}
	for _, want := range built {
		got, err := s.Get(want.Key)
		if err != nil || got == nil {
			t.Fatalf("%s not in the store: %v", want.Meta.Part, err)
		}
		if _, err := os.Lstat(got.Tree()); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: tree unpacked by the pull (%v)", want.Meta.Part, err)
		}
		// Several builds want the tree at once.
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = s.EnsureTree(ctx, got) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		samePart(t, got, want)
		x, errx := os.Stat(filepath.Join(got.Tree(), "lib", "lib"+want.Meta.Part+".so"))
		y, erry := os.Stat(filepath.Join(got.Tree(), "lib", "hard"))
		if errx != nil || erry != nil || !os.SameFile(x, y) {
			t.Errorf("%s: hard link not kept: %v %v", want.Meta.Part, errx, erry)
		}
		if err := s.EnsureTree(ctx, got); err != nil {
			t.Fatal(err)
		}
	}
	noTemp(t, s)

	// A layer file damaged in the store: no tree, an error, nothing left.
	e, _ := s.Get(rkey("defer-zlib"))
	if err := os.RemoveAll(e.Tree()); err != nil {
		t.Fatal(err)
	}
	flipByte(t, e.LayerPath(), func(b []byte) int { return len(b) / 2 })
	if err := s.EnsureTree(ctx, e); err == nil {
		t.Fatal("a damaged layer unpacked")
	}
	if _, err := os.Lstat(e.Tree()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tree of a damaged layer: %v", err)
	}
	noTemp(t, s)
}

// TestDeferredTreesRejectBadLayers: a pull that writes no tree checks the
// blob against its digest, as registry clients do; a layer that does not
// match its diff ID or leaves the location is refused when its tree is
// unpacked, and no tree is left.
func TestDeferredTreesRejectBadLayers(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, want string
		edit       func(m *Meta)
	}{
		{"wrong diff ID", "does not match diff ID", func(m *Meta) { m.Layer.DiffID = "sha256:" + strings.Repeat("1", 64) }},
		{"layer outside the location", "outside the part's location", func(m *Meta) { m.Location = "/opt/hbuild/parts/other/lib" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg := newMemRegistry(t)
			e := builtPart(t, openStore(t), rkey("other"), "other", "x", nil)
			bad := rkey("bad")
			m := *e.Meta
			m.Key = bad
			c.edit(&m)
			forge(t, reg.host(), bad, e, &m, false, nil)
			s := openStore(t)
			pulled, ws := openRemote(t, reg.host(), RemoteOptions{DeferTrees: true}).Prefetch(ctx, s, []string{bad})
			if len(pulled) != 1 || len(ws) != 0 {
				t.Fatalf("pulled %v, warnings %v; want the entry pulled (its blob matches its digest)", pulled, ws)
			}
			got, _ := s.Get(bad)
			if got == nil {
				t.Fatal("the pulled entry is not in the store")
			}
			if err := s.EnsureTree(ctx, got); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("EnsureTree: %v; want an error saying %q", err, c.want)
			}
			if _, err := os.Lstat(got.Tree()); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("tree of a refused layer: %v", err)
			}
			noTemp(t, s)
		})
	}
}

// TestLayerBombRefused: a layer that decompresses to far more than its
// compressed size is refused, on a pull that unpacks and when a deferred
// tree is unpacked, and nothing is left behind.
func TestLayerBombRefused(t *testing.T) {
	ctx := context.Background()
	old := maxExpanded
	maxExpanded = func(n int64) int64 { return n } // any compressible layer is a "bomb" here
	t.Cleanup(func() { maxExpanded = old })
	reg := newMemRegistry(t)
	e := builtPart(t, openStore(t), rkey("bomb"), "bomb", "x", nil)
	forge(t, reg.host(), rkey("bomb"), e, e.Meta, false, nil)

	s := openStore(t)
	pulled, ws := openRemote(t, reg.host(), RemoteOptions{}).Prefetch(ctx, s, []string{rkey("bomb")})
	if len(pulled) != 0 || len(ws) != 1 || !strings.Contains(ws[0].Err.Error(), "decompression bomb") {
		t.Fatalf("pulled %v, warnings %v; want the entry refused as a decompression bomb", pulled, ws)
	}
	noTemp(t, s)

	s = openStore(t)
	pulled, ws = openRemote(t, reg.host(), RemoteOptions{DeferTrees: true}).Prefetch(ctx, s, []string{rkey("bomb")})
	if len(pulled) != 1 || len(ws) != 0 {
		t.Fatalf("deferred: pulled %v, warnings %v", pulled, ws)
	}
	got, _ := s.Get(rkey("bomb"))
	if got == nil {
		t.Fatal("the pulled entry is not in the store")
	}
	if err := s.EnsureTree(ctx, got); err == nil || !strings.Contains(err.Error(), "decompression bomb") {
		t.Fatalf("EnsureTree: %v; want a decompression bomb refused", err)
	}
	if _, err := os.Lstat(got.Tree()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tree of a refused layer: %v", err)
	}
	noTemp(t, s)
}
