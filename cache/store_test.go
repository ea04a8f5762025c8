package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func key(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func put(t *testing.T, s *Store, k, part, content string) *Entry {
	t.Helper()
	p, err := s.Create(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.Tree(), "f"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.LayerPath(), []byte("layer-"+content), 0o644); err != nil {
		t.Fatal(err)
	}
	lh := sha256.Sum256([]byte("layer-" + content))
	e, err := p.Commit(&Meta{Part: part, Options: map[string]string{"a": content}, Layer: Layer{Digest: "sha256:" + hex.EncodeToString(lh[:])}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCommitGet(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k := key("a")
	if e, err := s.Get(k); e != nil || err != nil {
		t.Fatalf("empty cache: %v %v", e, err)
	}
	p, err := s.Create(k)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Get(k); e != nil {
		t.Fatal("pending entry visible before commit")
	}
	p.Abort()
	if _, err := os.Stat(p.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("abort left %s", p.Dir())
	}
	e := put(t, s, k, "zlib", "1")
	got, err := s.Get(k)
	if err != nil || got == nil || got.Meta.Part != "zlib" || got.Meta.Key != k {
		t.Fatalf("get: %+v %v", got, err)
	}
	if b, err := os.ReadFile(filepath.Join(got.Tree(), "f")); err != nil || string(b) != "1" {
		t.Fatalf("tree: %q %v", b, err)
	}
	blob := filepath.Join(s.Dir(), "blobs", "sha256", e.Meta.Layer.Digest[7:])
	if b, err := os.ReadFile(blob); err != nil || string(b) != "layer-1" {
		t.Fatalf("blob: %q %v", b, err)
	}
	last, err := s.Last("zlib")
	if err != nil || last == nil || last.Key != k {
		t.Fatalf("last: %+v %v", last, err)
	}
	if l, err := s.Last("nope"); l != nil || err != nil {
		t.Fatalf("last of unknown part: %v %v", l, err)
	}
	// A second commit of the same key (another process won the race) keeps the first.
	p2, err := s.Create(k)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := p2.Commit(&Meta{Part: "zlib", Options: map[string]string{"a": "other"}})
	if err != nil || e2.Meta.Options["a"] != "1" {
		t.Fatalf("second commit: %+v %v", e2, err)
	}
	ents, err := s.List()
	if err != nil || len(ents) != 1 {
		t.Fatalf("list: %v %v", ents, err)
	}
	if _, err := s.Get("../x"); err == nil {
		t.Fatal("bad key accepted")
	}
}

func TestRemovePrune(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := put(t, s, key("a"), "a", "1")
	put(t, s, key("b"), "b", "2")
	put(t, s, key("c"), "b", "3")
	r, err := s.Prune([]string{"b"})
	if err != nil || len(r.Entries) != 2 {
		t.Fatalf("prune: %+v %v", r, err)
	}
	ents, _ := s.List()
	if len(ents) != 1 || ents[0].Key != a.Key {
		t.Fatalf("left: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "blobs", "sha256", a.Meta.Layer.Digest[7:])); err != nil {
		t.Fatal("blob of kept entry removed")
	}
	lh := sha256.Sum256([]byte("layer-2"))
	if _, err := os.Stat(filepath.Join(s.Dir(), "blobs", "sha256", hex.EncodeToString(lh[:]))); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("blob of pruned entry kept")
	}
	if err := s.Remove(a.Key); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Get(a.Key); e != nil {
		t.Fatal("removed entry still there")
	}
}

func TestLockWaitsAndCancels(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k := key("x")
	unlock, err := s.Lock(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Lock(ctx, k); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled lock: %v", err)
	}
	// A second holder waits until the first commits, then sees its entry.
	var wg sync.WaitGroup
	var seen *Entry
	wg.Add(1)
	go func() {
		defer wg.Done()
		u, err := s.Lock(context.Background(), k)
		if err != nil {
			t.Error(err)
			return
		}
		defer u()
		seen, _ = s.Get(k)
	}()
	put(t, s, k, "x", "1")
	unlock()
	wg.Wait()
	if seen == nil {
		t.Fatal("second locker did not see the first one's entry")
	}
}

// A process that dies while building leaves no visible entry, and gc
// removes its leftovers.
func TestCrashLeavesCacheValid(t *testing.T) {
	if dir := os.Getenv("HBUILD_CACHE_CRASH"); dir != "" {
		s, err := Open(dir)
		if err != nil {
			os.Exit(2)
		}
		p, err := s.Create(key("crash"))
		if err != nil {
			os.Exit(2)
		}
		_ = os.WriteFile(filepath.Join(p.Tree(), "half"), []byte("x"), 0o644)
		os.Exit(3) // no Abort, no Commit: as if killed
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashLeavesCacheValid$")
	cmd.Env = append(os.Environ(), "HBUILD_CACHE_CRASH="+dir)
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("crashing child: %v", err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := s.Get(key("crash")); e != nil || err != nil {
		t.Fatalf("half entry visible: %v %v", e, err)
	}
	// A live pending entry is not collected.
	live, err := s.Create(key("live"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.GC(GCOptions{})
	if err != nil || len(r.Temp) != 1 {
		t.Fatalf("gc: %+v %v", r, err)
	}
	if _, err := os.Stat(live.Dir()); err != nil {
		t.Fatal("gc removed a live pending entry")
	}
	live.Abort()
	tmps, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(tmps) != 0 {
		t.Fatalf("tmp not empty: %v", tmps)
	}
}

func TestGCOlderThan(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old := put(t, s, key("old"), "old", "1")
	recent := put(t, s, key("new"), "new", "2")
	past := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(filepath.Join(old.Dir, "meta.json"), past, past); err != nil {
		t.Fatal(err)
	}
	r, err := s.GC(GCOptions{OlderThan: 24 * time.Hour, DryRun: true})
	if err != nil || len(r.Entries) != 1 || r.Entries[0] != old.Key {
		t.Fatalf("dry run: %+v %v", r, err)
	}
	if e, _ := s.Get(old.Key); e == nil {
		t.Fatal("dry run removed")
	}
	if _, err := s.GC(GCOptions{OlderThan: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Get(old.Key); e != nil {
		t.Fatal("old entry kept")
	}
	if e, _ := s.Get(recent.Key); e == nil {
		t.Fatal("recent entry removed")
	}
}
