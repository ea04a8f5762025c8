package cache

// Tests against a real registry: Debian's docker-registry (distribution),
// started by each test on loopback with its storage in a temporary
// directory.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hbuild/hbuild/internal/testutil"
)

// startRegistry starts Debian's docker-registry on loopback for a test.
func startRegistry(t testing.TB) *testutil.Registry {
	t.Helper()
	return testutil.StartRegistryProcess(t)
}

func TestRegistryPushPull(t *testing.T) {
	reg := startRegistry(t)
	ctx := context.Background()
	a := openStore(t)
	var built []*Entry
	for _, p := range []string{"zlib", "libxml2", "xz"} {
		built = append(built, builtPart(t, a, rkey(p), p, p+"-1", nil))
	}
	pusher := openRemote(t, reg.Host, RemoteOptions{})
	for _, e := range built {
		mustPush(t, pusher, e)
	}
	// Machine B: a fresh remote and an empty cache directory.
	r := openRemote(t, reg.Host, RemoteOptions{})
	keys := []string{built[0].Key, built[1].Key, built[2].Key, rkey("missing")}
	found, ws := r.LookupAll(ctx, keys)
	if len(ws) != 0 || len(found) != 3 {
		t.Fatalf("lookup: %d found, warnings %v", len(found), ws)
	}
	b := openStore(t)
	pulled, ws := r.PullAll(ctx, found, b)
	if len(ws) != 0 || len(pulled) != 3 {
		t.Fatalf("pull: %d pulled, warnings %v", len(pulled), ws)
	}
	for _, e := range built {
		local, err := b.Get(e.Key)
		if err != nil || local == nil {
			t.Fatalf("%s not in the store: %v", e.Meta.Part, err)
		}
		samePart(t, local, e)
	}
	noTemp(t, b)

	// gc on distribution: deleting by digest untags.
	rep, _, err := r.RemoteGC(ctx, RemoteGCOptions{Keep: map[string]bool{built[0].Key: true}})
	if err != nil || len(rep.Entries) != 2 {
		t.Fatalf("gc: %+v %v", rep, err)
	}
	ents, ws, err := r.ListEntries(ctx)
	if err != nil || len(ws) != 0 || len(ents) != 1 || ents[0].Key != built[0].Key {
		t.Fatalf("after gc: %v %v %v", ents, ws, err)
	}
	if e, err := r.Lookup(ctx, built[1].Key); e != nil || err != nil {
		t.Fatalf("deleted entry found: %v %v", e, err)
	}
}

func TestRegistrySigning(t *testing.T) {
	signingCases(t, startRegistry(t).Host)
}

func TestRegistryRacingPush(t *testing.T) {
	reg := startRegistry(t)
	ctx := context.Background()
	// Several keys, each pushed by two machines at once; each machine's
	// metadata differs (build duration), their layers are the same.
	type pair struct{ a, b *Entry }
	var pairs []pair
	for _, p := range []string{"p1", "p2", "p3", "p4"} {
		k := rkey(p)
		pairs = append(pairs, pair{
			builtPart(t, openStore(t), k, p, "same", func(m *Meta) { m.Duration = 1 }),
			builtPart(t, openStore(t), k, p, "same", func(m *Meta) { m.Duration = 2 }),
		})
	}
	ra, rb := openRemote(t, reg.Host, RemoteOptions{}), openRemote(t, reg.Host, RemoteOptions{})
	errs := make([]error, 2*len(pairs))
	var wg sync.WaitGroup
	for i, p := range pairs {
		wg.Add(2)
		go func() { defer wg.Done(); errs[2*i] = ra.Push(ctx, p.a.Key, p.a.LayerPath(), p.a.Meta) }()
		go func() { defer wg.Done(); errs[2*i+1] = rb.Push(ctx, p.b.Key, p.b.LayerPath(), p.b.Meta) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("push %d: %v", i, err)
		}
	}
	r := openRemote(t, reg.Host, RemoteOptions{})
	var keys []string
	for _, p := range pairs {
		keys = append(keys, p.a.Key)
	}
	found, ws := r.LookupAll(ctx, keys)
	if len(ws) != 0 || len(found) != len(pairs) {
		t.Fatalf("lookup: %v %v", found, ws)
	}
	s := openStore(t)
	pulled, ws := r.PullAll(ctx, found, s)
	if len(ws) != 0 {
		t.Fatalf("pull: %v", ws)
	}
	for _, p := range pairs {
		got := pulled[p.a.Key]
		if got == nil {
			t.Fatalf("%s not pulled", p.a.Meta.Part)
		}
		want := p.a
		if got.Meta.Duration == 2 {
			want = p.b
		}
		samePart(t, got, want)
	}
}

// flipByte changes one byte of a file in place, keeping its size.
func flipByte(t *testing.T, path string, at func(b []byte) int) {
	t.Helper()
	editFile(t, path, func(b []byte) { b[at(b)] ^= 0x01 })
}

// editFile changes a file in place.
func editFile(t *testing.T, path string, edit func(b []byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRegistryTamperedEntries(t *testing.T) {
	reg := startRegistry(t)
	ctx := context.Background()
	layerBad := builtPart(t, openStore(t), rkey("layer-bad"), "layerbad", "1", nil)
	metaBad := builtPart(t, openStore(t), rkey("meta-bad"), "metabad", "2", nil)
	oldMetaBad := builtPart(t, openStore(t), rkey("old-meta-bad"), "oldmetabad", "3", nil)
	good := builtPart(t, openStore(t), rkey("good"), "good", "4", nil)
	pusher := openRemote(t, reg.Host, RemoteOptions{})
	for _, e := range []*Entry{layerBad, metaBad, oldMetaBad, good} {
		mustPush(t, pusher, e)
	}
	// An entry of the older format: metadata only as the config blob.
	old := getManifest(t, reg.Host, oldMetaBad.Key)
	old.Config.Data = nil
	putManifest(t, reg.Host, oldMetaBad.Key, mustRaw(t, old))

	// Alter, in the registry's storage, the layer blob of one entry, the
	// metadata embedded in the manifest of another, and the metadata blob
	// of the old-format one.
	flipByte(t, reg.BlobPath(layerBad.Meta.Layer.Digest), func(b []byte) int { return len(b) / 2 })
	editFile(t, reg.BlobPath(manifestDigest(t, reg.Host, metaBad.Key)), func(b []byte) {
		// A character of the base64 data, kept in the alphabet: the JSON
		// stays valid, the bytes it encodes change.
		i := bytes.Index(b, []byte(`"data":"`)) + len(`"data":"`) + 8
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
	})
	flipByte(t, reg.BlobPath(old.Config.Digest.String()), func(b []byte) int {
		// A letter of the part name: the JSON stays valid.
		return bytes.Index(b, []byte(`"part":"oldmetabad"`)) + len(`"part":"`)
	})

	r := openRemote(t, reg.Host, RemoteOptions{})
	keys := []string{layerBad.Key, metaBad.Key, oldMetaBad.Key, good.Key}
	found, ws := r.LookupAll(ctx, keys)
	if len(ws) != 1 || ws[0].Key != metaBad.Key || ws[0].Op != "lookup" || !strings.Contains(ws[0].Err.Error(), "digest") || len(found) != 3 {
		t.Fatalf("lookup: want only %s rejected for its digest: %v %v", metaBad.Key[:12], found, ws)
	}
	s := openStore(t)
	pulled, ws := r.PullAll(ctx, found, s)
	wantWarned := []string{layerBad.Key, oldMetaBad.Key}
	sort.Strings(wantWarned)
	if got := warnedKeys(ws); strings.Join(got, ",") != strings.Join(wantWarned, ",") {
		t.Fatalf("warnings for %v, want exactly %v: %v", got, wantWarned, ws)
	}
	for _, w := range ws {
		if w.Op != "pull" || !strings.Contains(w.Err.Error(), "digest") {
			t.Errorf("warning %v: want a digest mismatch on pull", w)
		}
	}
	// The caller is told to build them: they are not pulled and not in the
	// store; the good entry is.
	if len(pulled) != 1 || pulled[good.Key] == nil {
		t.Fatalf("pulled %v", pulled)
	}
	for _, e := range []*Entry{layerBad, metaBad, oldMetaBad} {
		if got, _ := s.Get(e.Key); got != nil {
			t.Errorf("tampered %s reached the store", e.Meta.Part)
		}
	}
	samePart(t, pulled[good.Key], good)
	noTemp(t, s)
	if !r.Available() {
		t.Error("tampered entries marked the registry unavailable")
	}
}

func TestRegistryGoesAway(t *testing.T) {
	reg := startRegistry(t)
	ctx := context.Background()
	var built []*Entry
	pusher := openRemote(t, reg.Host, RemoteOptions{})
	for _, p := range []string{"a", "b", "c", "d"} {
		e := builtPart(t, openStore(t), rkey(p), p, p, nil)
		built = append(built, e)
		mustPush(t, pusher, e)
	}
	r := openRemote(t, reg.Host, RemoteOptions{})
	var keys []string
	for _, e := range built {
		keys = append(keys, e.Key)
	}
	found, ws := r.LookupAll(ctx, keys)
	if len(found) != len(built) || len(ws) != 0 {
		t.Fatalf("lookup: %v %v", found, ws)
	}
	// Pull one, then the registry dies mid-way.
	s := openStore(t)
	if _, err := r.Pull(ctx, found[built[0].Key], s); err != nil {
		t.Fatal(err)
	}
	delete(found, built[0].Key)
	reg.Stop()

	pulled, ws := r.PullAll(ctx, found, s)
	if len(pulled) != 0 || len(ws) == 0 {
		t.Fatalf("pull from a dead registry: %v, warnings %v", pulled, ws)
	}
	for _, e := range built[1:] {
		if got, _ := s.Get(e.Key); got != nil {
			t.Errorf("%s in the store", e.Meta.Part)
		}
	}
	noTemp(t, s)
	if got, _ := s.Get(built[0].Key); got == nil {
		t.Error("the entry pulled before the registry died is gone")
	}
	// Everything afterwards is a warning or an error for the caller to
	// report, at once.
	found, ws = r.LookupAll(ctx, keys)
	if len(found) != 0 || len(ws) != 1 || ws[0].Key != "" || !errors.Is(ws[0].Err, ErrUnavailable) {
		t.Errorf("lookup after: %v %v", found, ws)
	}
	e := built[1]
	if err := r.Push(ctx, e.Key, e.LayerPath(), e.Meta); !errors.Is(err, ErrUnavailable) {
		t.Errorf("push after: %v", err)
	}
	if _, _, err := r.ListEntries(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("list after: %v", err)
	}
}
