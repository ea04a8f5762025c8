package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// pendingPart is a pending entry of key whose tree file "data" and layer
// hold content.
func pendingPart(t *testing.T, s *Store, key, part, content string) (*Pending, *Meta) {
	t.Helper()
	p, err := s.Create(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.Tree(), "data"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	layer := "layer of " + content
	if err := os.WriteFile(p.LayerPath(), []byte(layer), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(layer))
	return p, &Meta{Part: part, Location: "/opt/hbuild/parts/" + part,
		Layer: Layer{Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(layer))}}
}

// checkEntry checks that key is committed with content, its meta and its
// layer blob.
func checkEntry(t *testing.T, s *Store, key, part, content string) {
	t.Helper()
	e, err := s.Get(key)
	if err != nil || e == nil {
		t.Fatalf("entry %s: %v, %v", part, e, err)
	}
	if e.Meta.Key != key || e.Meta.Part != part {
		t.Errorf("entry %s: meta names %s / %s", part, e.Meta.Key, e.Meta.Part)
	}
	if b, err := os.ReadFile(filepath.Join(e.Tree(), "data")); err != nil || string(b) != content {
		t.Errorf("entry %s: tree holds %q, %v; want %q", part, b, err, content)
	}
	blob := filepath.Join(s.Dir(), "blobs", "sha256", e.Meta.Layer.Digest[len("sha256:"):])
	if b, err := os.ReadFile(blob); err != nil || string(b) != "layer of "+content {
		t.Errorf("entry %s: layer blob %q, %v", part, b, err)
	}
	if _, err := os.Stat(filepath.Join(e.Dir, lastBuildName)); err == nil {
		t.Errorf("entry %s keeps its last-build record", part)
	}
	last, err := s.Last(part)
	if err != nil || last == nil || last.Key != key {
		t.Errorf("last build of %s: %v, %v", part, last, err)
	}
}

func TestCommitAll(t *testing.T) {
	s := openStore(t)
	const n = 20
	var ps []*Pending
	var ms []*Meta
	for i := 0; i < n; i++ {
		p, m := pendingPart(t, s, rkey(fmt.Sprint("batch", i)), fmt.Sprint("p", i), fmt.Sprint("content ", i))
		ps, ms = append(ps, p), append(ms, m)
	}
	var mu sync.Mutex
	var steps []string
	s.failAt = func(step, key string) error {
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, step)
		return nil
	}
	ents, errs := s.CommitAll(context.Background(), ps, ms)
	for i := 0; i < n; i++ {
		if errs[i] != nil || ents[i] == nil || ents[i].Key != rkey(fmt.Sprint("batch", i)) {
			t.Fatalf("entry %d: %v, %v", i, ents[i], errs[i])
		}
		checkEntry(t, s, rkey(fmt.Sprint("batch", i)), fmt.Sprint("p", i), fmt.Sprint("content ", i))
	}
	syncs := 0
	for _, st := range steps {
		if st == "sync" || st == "sync-renames" {
			syncs++
		}
	}
	if syncs != 2 || len(steps) != 2*n+2 {
		t.Errorf("steps of a batch of %d: %v, want %d writes and renames and 2 syncs", n, steps, n)
	}
	noTemp(t, s)
	if l, err := s.List(); err != nil || len(l) != n {
		t.Errorf("list: %d entries, %v", len(l), err)
	}
	// A batch of nothing, and a key given twice: committed once.
	if ents, errs := s.CommitAll(context.Background(), nil, nil); len(ents) != 0 || len(errs) != 0 {
		t.Errorf("empty batch: %v %v", ents, errs)
	}
	k := rkey("twice")
	p1, m1 := pendingPart(t, s, k, "twice", "first")
	p2, m2 := pendingPart(t, s, k, "twice", "second")
	ents, errs = s.CommitAll(context.Background(), []*Pending{p1, p2}, []*Meta{m1, m2})
	if errs[0] != nil || errs[1] != nil || ents[0] == nil || ents[1] == nil || ents[0].Dir != ents[1].Dir {
		t.Fatalf("same key twice: %v %v", ents, errs)
	}
	checkEntry(t, s, k, "twice", "first")
	noTemp(t, s)
}

func TestCommitAllFailures(t *testing.T) {
	boom := errors.New("injected failure")
	for _, tc := range []struct {
		step    string
		k       int  // the failing entry (its write or rename); -1 for a sync
		visible bool // do the other entries get committed?
		errAll  bool // do all entries report an error?
	}{
		{step: "write", k: 2, visible: true},
		{step: "rename", k: 2, visible: true},
		{step: "rename", k: 0, visible: true},
		{step: "sync", k: -1, visible: false, errAll: true},
		{step: "sync-renames", k: -1, visible: true, errAll: true},
	} {
		t.Run(fmt.Sprintf("%s-%d", tc.step, tc.k), func(t *testing.T) {
			s := openStore(t)
			const n = 5
			var ps []*Pending
			var ms []*Meta
			var keys []string
			for i := 0; i < n; i++ {
				keys = append(keys, rkey(fmt.Sprint("fail", i)))
				p, m := pendingPart(t, s, keys[i], fmt.Sprint("p", i), fmt.Sprint("content ", i))
				ps, ms = append(ps, p), append(ms, m)
			}
			s.failAt = func(step, key string) error {
				if step == tc.step && (tc.k < 0 || key == keys[tc.k]) {
					return boom
				}
				return nil
			}
			ents, errs := s.CommitAll(context.Background(), ps, ms)
			for i := 0; i < n; i++ {
				failed := i == tc.k || tc.errAll
				if failed != (errs[i] != nil) || (errs[i] != nil && !errors.Is(errs[i], boom)) {
					t.Errorf("entry %d: error %v, want failed=%v", i, errs[i], failed)
				}
				e, err := s.Get(keys[i])
				if err != nil {
					t.Fatal(err)
				}
				wantVisible := tc.visible && i != tc.k
				if (e != nil) != wantVisible {
					t.Errorf("entry %d visible=%v, want %v", i, e != nil, wantVisible)
				}
				if wantVisible {
					checkEntry(t, s, keys[i], fmt.Sprint("p", i), fmt.Sprint("content ", i))
				} else if _, err := os.Stat(filepath.Join(s.Dir(), "parts", keys[i])); err == nil {
					t.Errorf("entry %d: a partial entry is in parts/", i)
				}
				if (ents[i] != nil) != (wantVisible && !tc.errAll) && !(tc.step == "sync-renames") {
					t.Errorf("entry %d returned %v", i, ents[i])
				}
			}
			noTemp(t, s)
			// The failed entries can be committed again.
			s.failAt = nil
			for i := 0; i < n; i++ {
				if e, _ := s.Get(keys[i]); e != nil {
					continue
				}
				p, m := pendingPart(t, s, keys[i], fmt.Sprint("p", i), fmt.Sprint("content ", i))
				if _, errs := s.CommitAll(context.Background(), []*Pending{p}, []*Meta{m}); errs[0] != nil {
					t.Fatal(errs[0])
				}
				checkEntry(t, s, keys[i], fmt.Sprint("p", i), fmt.Sprint("content ", i))
			}
		})
	}
}

func TestCommitAllConcurrent(t *testing.T) {
	s := openStore(t)
	// Two batches share keys 3..6, in opposite orders.
	var keys []string
	for i := 0; i < 10; i++ {
		keys = append(keys, rkey(fmt.Sprint("conc", i)))
	}
	sides := [][]int{{0, 1, 2, 3, 4, 5, 6}, {6, 5, 4, 3, 7, 8, 9}}
	ents := make([][]*Entry, 2)
	errs := make([][]error, 2)
	var ps [2][]*Pending
	var ms [2][]*Meta
	for side, idx := range sides {
		for _, i := range idx {
			p, m := pendingPart(t, s, keys[i], fmt.Sprint("p", i), fmt.Sprintf("content %d from %d", i, side))
			ps[side], ms[side] = append(ps[side], p), append(ms[side], m)
		}
	}
	var wg sync.WaitGroup
	for side := range sides {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ents[side], errs[side] = s.CommitAll(context.Background(), ps[side], ms[side])
		}()
	}
	wg.Wait()
	for side, idx := range sides {
		for j, i := range idx {
			if errs[side][j] != nil || ents[side][j] == nil {
				t.Fatalf("side %d entry %d: %v, %v", side, i, ents[side][j], errs[side][j])
			}
			e, err := s.Get(keys[i])
			if err != nil || e == nil {
				t.Fatalf("entry %d: %v %v", i, e, err)
			}
			b, err := os.ReadFile(filepath.Join(ents[side][j].Tree(), "data"))
			if err != nil {
				t.Fatal(err)
			}
			if ents[side][j].Dir != e.Dir {
				t.Errorf("side %d entry %d: returned %s, the store has %s", side, i, ents[side][j].Dir, e.Dir)
			}
			if want0, want1 := fmt.Sprintf("content %d from 0", i), fmt.Sprintf("content %d from 1", i); string(b) != want0 && string(b) != want1 {
				t.Errorf("entry %d holds %q", i, b)
			}
		}
	}
	noTemp(t, s)
	if l, err := s.List(); err != nil || len(l) != len(keys) {
		t.Errorf("list: %d entries, %v", len(l), err)
	}
}

func TestPrefetchCommitsOnceForAll(t *testing.T) {
	reg := newMemRegistry(t)
	ctx := context.Background()
	a := openStore(t)
	pusher := openRemote(t, reg.host(), RemoteOptions{})
	var built []*Entry
	var keys []string
	for _, p := range []string{"zlib", "libxml2", "xz", "lzip"} {
		e := builtPart(t, a, rkey("batch-"+p), p, p+"-1", nil)
		mustPush(t, pusher, e)
		built, keys = append(built, e), append(keys, e.Key)
	}
	b := openStore(t)
	var mu sync.Mutex
	var steps []string
	boom := errors.New("injected sync failure")
	b.failAt = func(step, key string) error {
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, step)
		if step == "sync" {
			return boom
		}
		return nil
	}
	// The batch's first sync fails: nothing is added, every part is warned
	// about.
	pulled, ws := openRemote(t, reg.host(), RemoteOptions{}).Prefetch(ctx, b, keys)
	if len(pulled) != 0 || len(ws) != len(keys) {
		t.Fatalf("pulled %d, warnings %v", len(pulled), ws)
	}
	for _, w := range ws {
		if !errors.Is(w, boom) {
			t.Errorf("warning %v", w)
		}
	}
	if l, err := b.List(); err != nil || len(l) != 0 {
		t.Errorf("store has %d entries after a failed batch, %v", len(l), err)
	}
	noTemp(t, b)

	steps = nil
	b.failAt = func(step, key string) error {
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, step)
		return nil
	}
	pulled, ws = openRemote(t, reg.host(), RemoteOptions{}).Prefetch(ctx, b, keys)
	if len(pulled) != len(keys) || len(ws) != 0 {
		t.Fatalf("pulled %d, warnings %v", len(pulled), ws)
	}
	for _, e := range built {
		samePart(t, pulled[e.Key], e)
		if got, err := b.Get(e.Key); err != nil || got == nil {
			t.Errorf("%s not in the store: %v", e.Meta.Part, err)
		}
	}
	syncs := 0
	for _, s := range steps {
		if s == "sync" || s == "sync-renames" {
			syncs++
		}
	}
	if syncs != 2 {
		t.Errorf("%d syncs for %d pulled parts, want 2: %v", syncs, len(keys), steps)
	}
	noTemp(t, b)
}
