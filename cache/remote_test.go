package cache

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hbuild/hbuild/image"
)

func rkey(s string) string {
	h := sha256.Sum256([]byte("remote-test:" + s))
	return hex.EncodeToString(h[:])
}

// anonymous keeps tests away from the user's docker credentials.
var anonymous = authn.NewMultiKeychain()

// builtPart makes a real local entry for part: a small tree (a file whose
// content depends on seed, an executable, a symlink, a subdirectory) and
// its layer, as the engine would.
func builtPart(t testing.TB, s *Store, k, part, seed string, mutate func(*Meta)) *Entry {
	t.Helper()
	p, err := s.Create(k)
	if err != nil {
		t.Fatal(err)
	}
	tree := p.Tree()
	for name, content := range map[string]string{
		"lib/lib" + part + ".so": strings.Repeat("elf of "+part+" "+seed+"\n", 200),
		"bin/" + part:            "#!/bin/sh\necho " + seed + "\n",
		"share/doc/README":       "readme " + seed,
	} {
		f := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(tree, "bin", part), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("lib"+part+".so", filepath.Join(tree, "lib", "lib"+part+".so.1")); err != nil {
		t.Fatal(err)
	}
	// A hard link, and a name too long for a plain tar header.
	if err := os.Link(filepath.Join(tree, "lib", "lib"+part+".so"), filepath.Join(tree, "lib", "hard")); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(tree, "share", strings.Repeat("d", 60), strings.Repeat("f", 70))
	if err := os.MkdirAll(filepath.Dir(long), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(long, []byte(seed), 0o644); err != nil {
		t.Fatal(err)
	}
	loc := "/opt/hbuild/parts/" + part
	info, err := image.WriteLayerFile(context.Background(), tree, p.LayerPath(), image.LayerOptions{Prefix: loc[1:]})
	if err != nil {
		t.Fatal(err)
	}
	m := &Meta{
		Part: part, Recipe: "cmmi", RecipeVersion: "1", Format: image.FormatVersion, Location: loc,
		Options:  map[string]string{"url": "https://downloads.invalid/" + part + ".tar.gz", "seed": seed},
		Sources:  []Source{{Option: "url", URL: "https://downloads.invalid/" + part + ".tar.gz", SHA256: strings.Repeat("ab", 32)}},
		Platform: "linux/amd64",
		Layer:    Layer{Digest: info.Digest, DiffID: info.DiffID, Size: info.Size, MediaType: info.MediaType},
		Built:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Duration: 12.5,
		Policy:   json.RawMessage(`{"ok":true}`),
	}
	if mutate != nil {
		mutate(m)
	}
	e, err := p.Commit(m)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func openStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// memRegistry is ggcr's in-memory registry on loopback that counts the
// requests it serves.
type memRegistry struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs map[string]int // "METHOD /path"
}

func newMemRegistry(t *testing.T) *memRegistry {
	t.Helper()
	m := &memRegistry{reqs: map[string]int{}}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.reqs[r.Method+" "+r.URL.Path]++
		m.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *memRegistry) host() string { return strings.TrimPrefix(m.srv.URL, "http://") }

func (m *memRegistry) count(method, path string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reqs[method+" "+path]
}

func (m *memRegistry) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reqs = map[string]int{}
}

func openRemote(t testing.TB, host string, opts RemoteOptions) *Remote {
	t.Helper()
	opts.Insecure = true
	if opts.Keychain == nil {
		opts.Keychain = anonymous
	}
	r, err := OpenRemote(host+"/hbuild/cache", opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustPush(t testing.TB, r *Remote, e *Entry) {
	t.Helper()
	if err := r.Push(context.Background(), e.Key, e.LayerPath(), e.Meta); err != nil {
		t.Fatalf("push %s: %v", e.Meta.Part, err)
	}
}

// treeDigest summarises a tree: every path with its type, mode and content
// (or link target).
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v", rel, fi.Mode())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s", l)
		case fi.Mode().IsRegular():
			c, _ := os.ReadFile(p)
			h := sha256.Sum256(c)
			fmt.Fprintf(&b, " %x", h[:8])
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// samePart checks that a pulled entry is the pushed one.
func samePart(t *testing.T, got, want *Entry) {
	t.Helper()
	gb, err := os.ReadFile(got.LayerPath())
	if err != nil {
		t.Fatal(err)
	}
	wb, err := os.ReadFile(want.LayerPath())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gb, wb) {
		t.Errorf("%s: pulled layer differs from the pushed one", want.Meta.Part)
	}
	if g, w := treeDigest(t, got.Tree()), treeDigest(t, want.Tree()); g != w {
		t.Errorf("%s: pulled tree\n%s\nwant\n%s", want.Meta.Part, g, w)
	}
	gm, _ := json.Marshal(got.Meta)
	wm, _ := json.Marshal(want.Meta)
	if !bytes.Equal(gm, wm) {
		t.Errorf("%s: pulled metadata\n%s\nwant\n%s", want.Meta.Part, gm, wm)
	}
}

func warnedKeys(ws []Warning) []string {
	var ks []string
	for _, w := range ws {
		ks = append(ks, w.Key)
	}
	return ks
}

func noTemp(t *testing.T, s *Store) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("temporary entries left: %v", ents)
	}
}

func TestRemoteRoundTrip(t *testing.T) {
	reg := newMemRegistry(t)
	ctx := context.Background()
	a := openStore(t)
	var built []*Entry
	for _, p := range []string{"zlib", "libxml2", "xz"} {
		built = append(built, builtPart(t, a, rkey(p), p, p+"-1", nil))
	}
	pusher := openRemote(t, reg.host(), RemoteOptions{})
	for _, e := range built {
		mustPush(t, pusher, e)
	}

	// Machine B: a fresh remote and an empty store.
	reg.reset()
	r := openRemote(t, reg.host(), RemoteOptions{})
	keys := []string{built[0].Key, built[1].Key, built[2].Key, rkey("missing")}
	found, ws := r.LookupAll(ctx, keys)
	if len(ws) != 0 {
		t.Fatalf("warnings: %v", ws)
	}
	if len(found) != 3 || found[rkey("missing")] != nil {
		t.Fatalf("found %d entries: %v", len(found), found)
	}
	for _, k := range keys {
		p := "/v2/hbuild/cache/manifests/" + k
		if n := reg.count(http.MethodGet, p); n != 1 {
			t.Errorf("GET %s: %d requests, want exactly 1", p, n)
		}
		if n := reg.count(http.MethodHead, p); n != 0 {
			t.Errorf("HEAD %s: %d requests, want none", p, n)
		}
	}
	for _, e := range built {
		f := found[e.Key]
		if f.Part != e.Meta.Part || f.Layer.Digest.String() != e.Meta.Layer.Digest || f.Signer != "" || f.Created.IsZero() {
			t.Errorf("entry %s: %+v", e.Meta.Part, f)
		}
	}

	m, err := r.FetchMeta(ctx, found[built[1].Key])
	if err != nil || m.Key != built[1].Key || m.Part != "libxml2" || m.Duration != 12.5 || string(m.Policy) != `{"ok":true}` {
		t.Fatalf("metadata: %+v %v", m, err)
	}

	b := openStore(t)
	pulled, ws := r.PullAll(ctx, found, b)
	if len(ws) != 0 {
		t.Fatalf("pull warnings: %v", ws)
	}
	for _, e := range built {
		got := pulled[e.Key]
		if got == nil {
			t.Fatalf("%s not pulled", e.Meta.Part)
		}
		local, err := b.Get(e.Key)
		if err != nil || local == nil {
			t.Fatalf("%s not in the store after pull: %v", e.Meta.Part, err)
		}
		samePart(t, local, e)
		x, errx := os.Stat(filepath.Join(local.Tree(), "lib", "lib"+e.Meta.Part+".so"))
		y, erry := os.Stat(filepath.Join(local.Tree(), "lib", "hard"))
		if errx != nil || erry != nil || !os.SameFile(x, y) {
			t.Errorf("%s: hard link not kept: %v %v", e.Meta.Part, errx, erry)
		}
	}
	noTemp(t, b)

	// Pulling again finds the store's entry and fetches nothing.
	reg.reset()
	again, err := r.Pull(ctx, found[built[0].Key], b)
	if err != nil || again == nil || again.Key != built[0].Key {
		t.Fatalf("second pull: %v %v", again, err)
	}
	if n := reg.count(http.MethodGet, "/v2/hbuild/cache/blobs/"+built[0].Meta.Layer.Digest); n != 0 {
		t.Errorf("second pull fetched the layer again (%d requests)", n)
	}
}

func TestRemotePushIdempotentAndRacing(t *testing.T) {
	reg := newMemRegistry(t)
	ctx := context.Background()
	k := rkey("zlib")
	e1 := builtPart(t, openStore(t), k, "zlib", "same", func(m *Meta) { m.Duration = 1 })
	e2 := builtPart(t, openStore(t), k, "zlib", "same", func(m *Meta) { m.Duration = 2 })
	r1 := openRemote(t, reg.host(), RemoteOptions{})
	r2 := openRemote(t, reg.host(), RemoteOptions{})

	// Two machines that both missed push the same key at once.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []struct {
		r *Remote
		e *Entry
	}{{r1, e1}, {r2, e2}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.r.Push(ctx, c.e.Key, c.e.LayerPath(), c.e.Meta)
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("racing pushes: %v, %v", errs[0], errs[1])
	}
	r3 := openRemote(t, reg.host(), RemoteOptions{})
	ent, err := r3.Lookup(ctx, k)
	if err != nil || ent == nil {
		t.Fatalf("lookup after racing pushes: %v %v", ent, err)
	}
	got, err := r3.Pull(ctx, ent, openStore(t))
	if err != nil {
		t.Fatalf("pull after racing pushes: %v", err)
	}
	winner := e1
	if got.Meta.Duration == 2 {
		winner = e2
	}
	samePart(t, got, winner)

	// Pushing again writes no manifest: the entry is there.
	reg.reset()
	for _, e := range []*Entry{e1, e2} {
		if err := r1.Push(ctx, e.Key, e.LayerPath(), e.Meta); err != nil {
			t.Fatal(err)
		}
	}
	if n := reg.count(http.MethodPut, "/v2/hbuild/cache/manifests/"+k); n != 0 {
		t.Errorf("repeated push wrote the manifest %d times", n)
	}
}

// putManifest writes raw manifest bytes under tag (to forge entries).
func putManifest(t *testing.T, host, tag string, raw []byte) {
	t.Helper()
	ref, err := name.NewTag(host+"/hbuild/cache:"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(ref, rawManifest(raw), remote.WithAuthFromKeychain(anonymous)); err != nil {
		t.Fatal(err)
	}
}

type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func uploadBlob(t *testing.T, host string, b []byte) v1.Hash {
	t.Helper()
	repo, err := name.NewRepository(host+"/hbuild/cache", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	l := static.NewLayer(b, types.MediaType(ConfigMediaType))
	if err := remote.WriteLayer(repo, l, remote.WithAuthFromKeychain(anonymous)); err != nil {
		t.Fatal(err)
	}
	d, _ := l.Digest()
	return d
}

func getManifest(t *testing.T, host, tag string) *v1.Manifest {
	t.Helper()
	ref, err := name.NewTag(host+"/hbuild/cache:"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Get(ref, remote.WithAuthFromKeychain(anonymous))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// forge pushes an entry for key whose metadata (config blob, and embedded
// in the manifest unless oldFormat) is meta and whose layer is e's, with
// the manifest changed by edit.
func forge(t *testing.T, host, key string, e *Entry, meta *Meta, oldFormat bool, edit func(*v1.Manifest)) {
	t.Helper()
	// Start from a genuine entry of e, pushed under its own key.
	r := openRemote(t, host, RemoteOptions{})
	mustPush(t, r, e)
	m := getManifest(t, host, e.Key)
	cfg, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	m.Config.Digest = uploadBlob(t, host, cfg)
	m.Config.Size = int64(len(cfg))
	m.Config.Data = cfg
	if oldFormat {
		m.Config.Data = nil
	}
	m.Annotations[AnnotationKey] = key
	if edit != nil {
		edit(m)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	putManifest(t, host, key, raw)
}

func TestRemoteRejectsBadEntries(t *testing.T) {
	ctx := context.Background()
	type forged struct {
		name   string
		lookup bool // rejected at lookup (else at pull)
		want   string
		make   func(t *testing.T, host, key string, old bool)
	}
	cases := []forged{
		{"tag names another entry", true, "not the key it is tagged with", func(t *testing.T, host, key string, old bool) {
			e := builtPart(t, openStore(t), rkey("other"), "other", "x", nil)
			mustPush(t, openRemote(t, host, RemoteOptions{}), e)
			putManifest(t, host, key, mustRaw(t, getManifest(t, host, e.Key)))
		}},
		{"metadata names another key", false, "names key", func(t *testing.T, host, key string, old bool) {
			e := builtPart(t, openStore(t), rkey("other"), "other", "x", nil)
			forge(t, host, key, e, e.Meta, old, nil) // manifest says key, metadata says other
		}},
		{"metadata describes another layer", false, "describes layer", func(t *testing.T, host, key string, old bool) {
			e := builtPart(t, openStore(t), rkey("other"), "other", "x", nil)
			m := *e.Meta
			m.Key = key
			m.Layer.Digest = "sha256:" + strings.Repeat("0", 64)
			forge(t, host, key, e, &m, old, nil)
		}},
		{"wrong diff ID", false, "does not match diff ID", func(t *testing.T, host, key string, old bool) {
			e := builtPart(t, openStore(t), rkey("other"), "other", "x", nil)
			m := *e.Meta
			m.Key = key
			m.Layer.DiffID = "sha256:" + strings.Repeat("1", 64)
			forge(t, host, key, e, &m, old, nil)
		}},
		{"layer outside the location", false, "outside the part's location", func(t *testing.T, host, key string, old bool) {
			e := builtPart(t, openStore(t), rkey("other"), "other", "x", nil)
			m := *e.Meta
			m.Key = key
			m.Location = "/opt/hbuild/parts/other/lib" // the layer also has bin/ and share/
			forge(t, host, key, e, &m, old, nil)
		}},
		{"hostile location", false, "bad part location", func(t *testing.T, host, key string, old bool) {
			e := builtPart(t, openStore(t), rkey("other"), "other", "x", nil)
			m := *e.Meta
			m.Key = key
			m.Location = "/opt/../../etc"
			forge(t, host, key, e, &m, old, nil)
		}},
		{"config blob missing", false, "fetch metadata", func(t *testing.T, host, key string, old bool) {
			e := builtPart(t, openStore(t), rkey("other"), "other", "x", nil)
			m := *e.Meta
			m.Key = key
			forge(t, host, key, e, &m, old, func(man *v1.Manifest) {
				man.Config.Digest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("2", 64)}
			})
		}},
		{"config size lies", false, "manifest says", func(t *testing.T, host, key string, old bool) {
			e := builtPart(t, openStore(t), rkey("other"), "other", "x", nil)
			m := *e.Meta
			m.Key = key
			forge(t, host, key, e, &m, old, func(man *v1.Manifest) { man.Config.Size-- })
		}},
		{"not an hbuild artifact", true, "artifactType", func(t *testing.T, host, key string, old bool) {
			e := builtPart(t, openStore(t), rkey("other"), "other", "x", nil)
			m := *e.Meta
			m.Key = key
			forge(t, host, key, e, &m, old, func(man *v1.Manifest) { man.ArtifactType = "application/vnd.other+json" })
		}},
		{"two layers", true, "2 layers", func(t *testing.T, host, key string, old bool) {
			e := builtPart(t, openStore(t), rkey("other"), "other", "x", nil)
			m := *e.Meta
			m.Key = key
			forge(t, host, key, e, &m, old, func(man *v1.Manifest) { man.Layers = append(man.Layers, man.Layers[0]) })
		}},
	}
	// In the current format the metadata is embedded in the manifest and
	// checked at lookup; entries of the older format (metadata only as the
	// config blob) are still read, their metadata checked at pull.
	embedded := map[string]struct {
		lookup bool
		want   string
	}{
		"metadata names another key":       {true, "names key"},
		"metadata describes another layer": {true, "describes layer"},
		"hostile location":                 {true, "bad part location"},
		"config blob missing":              {true, "does not match the config's digest or size"},
		"config size lies":                 {true, "does not match the config's digest or size"},
	}
	for _, old := range []bool{false, true} {
		for _, c := range cases {
			if o, ok := embedded[c.name]; ok && !old {
				c.lookup, c.want = o.lookup, o.want
			}
			t.Run(fmt.Sprintf("%s/old=%v", c.name, old), func(t *testing.T) {
				rejectedEntry(t, ctx, c.lookup, c.want, func(host, key string) { c.make(t, host, key, old) })
			})
		}
	}
}

// rejectedEntry checks that the entry make forges under a key is rejected
// at lookup or at pull with an error saying want, while a good entry beside
// it is pulled.
func rejectedEntry(t *testing.T, ctx context.Context, atLookup bool, want string, make func(host, key string)) {
	reg := newMemRegistry(t)
	good := builtPart(t, openStore(t), rkey("good"), "good", "g", nil)
	mustPush(t, openRemote(t, reg.host(), RemoteOptions{}), good)
	bad := rkey("bad")
	make(reg.host(), bad)

	r := openRemote(t, reg.host(), RemoteOptions{})
	found, ws := r.LookupAll(ctx, []string{good.Key, bad})
	if atLookup {
		if found[bad] != nil || len(ws) != 1 || ws[0].Key != bad || !strings.Contains(ws[0].Err.Error(), want) {
			t.Fatalf("lookup: found %v, warnings %v; want one warning for %s saying %q", found[bad], ws, bad[:12], want)
		}
		return
	}
	if len(ws) != 0 || found[bad] == nil || found[good.Key] == nil {
		t.Fatalf("lookup: found %v, warnings %v", found, ws)
	}
	s := openStore(t)
	pulled, ws := r.PullAll(ctx, found, s)
	if len(ws) != 1 || ws[0].Key != bad || ws[0].Op != "pull" || !strings.Contains(ws[0].Err.Error(), want) {
		t.Fatalf("pull warnings %v, want one for %s saying %q", ws, bad[:12], want)
	}
	if pulled[bad] != nil || pulled[good.Key] == nil {
		t.Fatalf("pulled %v", pulled)
	}
	if e, _ := s.Get(bad); e != nil {
		t.Fatal("a rejected entry reached the store")
	}
	noTemp(t, s)
	if !r.Available() {
		t.Error("a bad entry marked the registry unavailable")
	}
}

func mustRaw(t *testing.T, m *v1.Manifest) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func TestRemoteSigning(t *testing.T) {
	signingCases(t, newMemRegistry(t).host())
}

func TestRemoteSignedPushReplacesUnsigned(t *testing.T) {
	reg := newMemRegistry(t)
	ctx := context.Background()
	k := newKey(t)
	e := builtPart(t, openStore(t), rkey("p"), "p", "1", nil)
	mustPush(t, openRemote(t, reg.host(), RemoteOptions{}), e)
	// A builder that requires signatures does not accept the unsigned
	// entry, builds, and its push replaces it.
	r := openRemote(t, reg.host(), RemoteOptions{SignKey: k, RequireSigned: true})
	if got, err := r.Lookup(ctx, e.Key); got != nil || err == nil {
		t.Fatalf("unsigned entry accepted: %v %v", got, err)
	}
	mustPush(t, r, e)
	got, err := r.Lookup(ctx, e.Key)
	if err != nil || got == nil || got.Signer != KeyID(pubOf(k)) {
		t.Fatalf("after signed push: %+v %v", got, err)
	}
}

func TestCacheKeyFiles(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "cache.key"), filepath.Join(dir, "cache.pub")
	p, err := GenerateCacheKey(priv, pub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateCacheKey(priv, pub); err == nil {
		t.Error("GenerateCacheKey overwrote an existing key")
	}
	if st, err := os.Stat(priv); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode: %v %v", st.Mode(), err)
	}
	sk, pk, err := LoadCacheKey(priv)
	if err != nil || sk == nil || !p.Equal(pk) {
		t.Fatalf("load private: %v %v %v", sk, pk, err)
	}
	sk2, pk2, err := LoadCacheKey(pub)
	if err != nil || sk2 != nil || !p.Equal(pk2) {
		t.Fatalf("load public: %v %v %v", sk2, pk2, err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadCacheKey(bad); err == nil {
		t.Error("loaded a non-PEM key")
	}
}

func TestOpenRemote(t *testing.T) {
	for _, c := range []struct {
		ref      string
		insecure bool
		ok       bool
	}{
		{"127.0.0.1:5000/hbuild/cache", true, true},
		{"docker://127.0.0.1:5000/hbuild/cache", true, true},
		{"localhost:5000/cache", true, true},
		{"[::1]:5000/cache", true, true},
		{"10.1.2.3:5000/cache", true, false}, // insecure only on loopback
		{"10.1.2.3:5000/cache", false, true}, // TLS anywhere
		{"cache", false, false},              // no registry: refuse to guess one
		{"team/cache", false, false},         // same
		{"127.0.0.1:5000/Bad_Repo", true, false},
	} {
		_, err := OpenRemote(c.ref, RemoteOptions{Insecure: c.insecure, Keychain: anonymous})
		if (err == nil) != c.ok {
			t.Errorf("OpenRemote(%q, insecure=%v): %v, want ok=%v", c.ref, c.insecure, err, c.ok)
		}
	}
	if _, err := OpenRemote("127.0.0.1:5000/c", RemoteOptions{RequireSigned: true}); err == nil {
		t.Error("RequireSigned without a key accepted")
	}
}

func TestRemoteUnavailable(t *testing.T) {
	reg := newMemRegistry(t)
	ctx := context.Background()
	var built []*Entry
	for _, p := range []string{"a", "b", "c"} {
		e := builtPart(t, openStore(t), rkey(p), p, p, nil)
		built = append(built, e)
		mustPush(t, openRemote(t, reg.host(), RemoteOptions{}), e)
	}
	r := openRemote(t, reg.host(), RemoteOptions{})
	found, ws := r.LookupAll(ctx, []string{built[0].Key, built[1].Key, built[2].Key})
	if len(found) != 3 || len(ws) != 0 {
		t.Fatalf("lookup: %v %v", found, ws)
	}
	// The registry goes away between lookup and pull.
	reg.srv.Close()
	s := openStore(t)
	pulled, ws := r.PullAll(ctx, found, s)
	if len(pulled) != 0 {
		t.Fatalf("pulled %v from a dead registry", pulled)
	}
	if len(ws) == 0 {
		t.Fatal("no warning about the dead registry")
	}
	for _, e := range built {
		if got, _ := s.Get(e.Key); got != nil {
			t.Errorf("%s in the store", e.Meta.Part)
		}
	}
	noTemp(t, s)
	if r.Available() {
		t.Error("registry still marked available")
	}
	// Later operations fail at once, as warnings or errors, never panics.
	found, ws = r.LookupAll(ctx, []string{built[0].Key, rkey("new")})
	if len(found) != 0 || len(ws) != 1 || ws[0].Key != "" || !errors.Is(ws[0].Err, ErrUnavailable) {
		t.Errorf("lookup after: %v %v", found, ws)
	}
	if err := r.Push(ctx, built[0].Key, built[0].LayerPath(), built[0].Meta); !errors.Is(err, ErrUnavailable) {
		t.Errorf("push after: %v", err)
	}
	// A fresh Remote finds out by itself, with one warning for the lot.
	r2 := openRemote(t, reg.host(), RemoteOptions{})
	found, ws = r2.LookupAll(ctx, []string{built[0].Key, built[1].Key})
	if len(found) != 0 || len(ws) != 1 || ws[0].Key != "" || !errors.Is(ws[0].Err, ErrUnavailable) {
		t.Errorf("fresh lookup: %v %v", found, ws)
	}
}

func TestRemoteListDeleteGC(t *testing.T) {
	reg := newMemRegistry(t)
	ctx := context.Background()
	r := openRemote(t, reg.host(), RemoteOptions{})
	if ents, ws, err := r.ListEntries(ctx); err != nil || len(ents) != 0 || len(ws) != 0 {
		t.Fatalf("list of an empty repository: %v %v %v", ents, ws, err)
	}
	var built []*Entry
	for _, p := range []string{"d", "c", "b", "a"} {
		e := builtPart(t, openStore(t), rkey(p), p, p, nil)
		built = append(built, e)
		mustPush(t, r, e)
	}
	// A tag that is not a key is not an entry.
	putManifest(t, reg.host(), "latest", mustRaw(t, getManifest(t, reg.host(), built[0].Key)))
	ents, ws, err := r.ListEntries(ctx)
	if err != nil || len(ws) != 0 {
		t.Fatal(err, ws)
	}
	var parts []string
	for _, e := range ents {
		parts = append(parts, e.Part)
	}
	if strings.Join(parts, ",") != "a,b,c,d" {
		t.Fatalf("listed %v", parts)
	}

	// gc: keep a and b, dry run first.
	keep := map[string]bool{rkey("a"): true, rkey("b"): true}
	rep, _, err := r.RemoteGC(ctx, RemoteGCOptions{Keep: keep, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{rkey("c"), rkey("d")}
	sort.Strings(want)
	if strings.Join(rep.Entries, ",") != strings.Join(want, ",") || rep.Bytes != ents[2].Size()+ents[3].Size() {
		t.Fatalf("dry run: %+v", rep)
	}
	if ents2, _, _ := r.ListEntries(ctx); len(ents2) != 4 {
		t.Fatal("dry run deleted entries")
	}
	if _, _, err := r.RemoteGC(ctx, RemoteGCOptions{Keep: keep}); err != nil {
		t.Fatal(err)
	}
	ents, _, err = r.ListEntries(ctx)
	if err != nil || len(ents) != 2 || ents[0].Part != "a" || ents[1].Part != "b" {
		t.Fatalf("after gc: %v %v", ents, err)
	}
	if e, err := r.Lookup(ctx, rkey("c")); e != nil || err != nil {
		t.Fatalf("deleted entry still found: %v %v", e, err)
	}
	// Deleting what is not there is fine.
	if err := r.Delete(ctx, rkey("c")); err != nil {
		t.Fatal(err)
	}
	// prune by part name, and everything.
	rep, _, err = r.RemoteGC(ctx, RemoteGCOptions{Parts: []string{"b", "zz"}, DryRun: true})
	if err != nil || strings.Join(rep.Entries, ",") != rkey("b") {
		t.Fatalf("prune b: %+v %v", rep, err)
	}
	rep, _, err = r.RemoteGC(ctx, RemoteGCOptions{All: true, DryRun: true})
	if err != nil || len(rep.Entries) != 2 {
		t.Fatalf("prune all: %+v %v", rep, err)
	}
	if rep, _, err := r.RemoteGC(ctx, RemoteGCOptions{}); err != nil || len(rep.Entries) != 0 {
		t.Fatalf("gc without criteria removed %+v %v", rep, err)
	}

	// prune by size keeps the newest that fit (same push second: by key);
	// by age, with the clock moved on, removes all.
	rep, _, err = r.RemoteGC(ctx, RemoteGCOptions{MaxBytes: ents[0].Size() + ents[1].Size() - 1, DryRun: true})
	if err != nil || len(rep.Entries) != 1 {
		t.Fatalf("prune by size: %+v %v", rep, err)
	}
	rep, _, err = r.RemoteGC(ctx, RemoteGCOptions{OlderThan: time.Hour, Now: time.Now().Add(2 * time.Hour)})
	if err != nil || len(rep.Entries) != 2 {
		t.Fatalf("prune by age: %+v %v", rep, err)
	}
	if ents, _, _ := r.ListEntries(ctx); len(ents) != 0 {
		t.Fatalf("after prune: %v", ents)
	}
}

func TestRemoteSettings(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k"), filepath.Join(dir, "k.pub")
	if _, err := GenerateCacheKey(priv, pub); err != nil {
		t.Fatal(err)
	}
	if r, err := (RemoteSettings{}).Open(); r != nil || err != nil {
		t.Fatalf("no cache: %v %v", r, err)
	}
	if _, err := (RemoteSettings{RequireSigned: true}).Open(); err == nil {
		t.Error("--cache-require-signed without a cache accepted")
	}
	for _, c := range []struct {
		s            RemoteSettings
		ok           bool
		reads, write bool
	}{
		{RemoteSettings{Ref: "127.0.0.1:5000/c"}, true, true, true},
		{RemoteSettings{Ref: "127.0.0.1:5000/c", Mode: ModeRead}, true, true, false},
		{RemoteSettings{Ref: "127.0.0.1:5000/c", Mode: ModeWrite}, true, false, true},
		{RemoteSettings{Ref: "127.0.0.1:5000/c", Mode: "sometimes"}, false, false, false},
		{RemoteSettings{Ref: "127.0.0.1:5000/c", RequireSigned: true}, false, false, false},
		{RemoteSettings{Ref: "127.0.0.1:5000/c", RequireSigned: true, KeyFile: pub}, true, true, true},
		{RemoteSettings{Ref: "127.0.0.1:5000/c", KeyFile: priv}, true, true, true},
		{RemoteSettings{Ref: "127.0.0.1:5000/c", KeyFile: filepath.Join(dir, "missing")}, false, false, false},
	} {
		r, err := c.s.Open()
		if (err == nil) != c.ok {
			t.Errorf("%+v: %v, want ok=%v", c.s, err, c.ok)
			continue
		}
		if err == nil && (r.Reads() != c.reads || r.Writes() != c.write) {
			t.Errorf("%+v: reads %v writes %v", c.s, r.Reads(), r.Writes())
		}
	}
	if r, err := (RemoteSettings{Ref: "127.0.0.1:5000/c", DeferTrees: true}).Open(); err != nil || !r.opts.DeferTrees {
		t.Errorf("DeferTrees not passed on: %v", err)
	}
	// A public key verifies but does not sign.
	r, err := (RemoteSettings{Ref: "127.0.0.1:5000/c", KeyFile: pub}).Open()
	if err != nil || r.opts.SignKey != nil || len(r.trusted) != 1 {
		t.Errorf("public key settings: %v %v", r, err)
	}
}

func TestRemotePrefetch(t *testing.T) {
	reg := newMemRegistry(t)
	ctx := context.Background()
	r := openRemote(t, reg.host(), RemoteOptions{})
	s := openStore(t)
	local := builtPart(t, s, rkey("local"), "local", "l", nil)
	var remoteOnly []*Entry
	for _, p := range []string{"r1", "r2"} {
		e := builtPart(t, openStore(t), rkey(p), p, p, nil)
		remoteOnly = append(remoteOnly, e)
		mustPush(t, r, e)
	}
	mustPush(t, r, local)
	reg.reset()
	keys := []string{local.Key, remoteOnly[0].Key, remoteOnly[1].Key, rkey("nowhere")}

	w := openRemote(t, reg.host(), RemoteOptions{Mode: ModeWrite})
	if pulled, ws := w.Prefetch(ctx, s, keys); len(pulled) != 0 || len(ws) != 0 {
		t.Fatalf("write-only prefetch: %v %v", pulled, ws)
	}
	pulled, ws := r.Prefetch(ctx, s, keys)
	if len(ws) != 0 || len(pulled) != 2 || pulled[remoteOnly[0].Key] == nil || pulled[remoteOnly[1].Key] == nil {
		t.Fatalf("prefetch: %v %v", pulled, ws)
	}
	if n := reg.count(http.MethodGet, "/v2/hbuild/cache/manifests/"+local.Key); n != 0 {
		t.Errorf("looked up a key the store has (%d requests)", n)
	}
	for _, e := range remoteOnly {
		got, err := s.Get(e.Key)
		if err != nil || got == nil {
			t.Fatalf("%s not in the store", e.Meta.Part)
		}
		samePart(t, got, e)
	}
}

// FuzzParseEntry feeds registry manifests (untrusted) to the entry parser:
// it must never panic, and what it accepts must be a well-formed entry of
// the key it was asked for, whose embedded metadata (if any) matches the
// config descriptor and names the key.
func FuzzParseEntry(f *testing.F) {
	key := rkey("fuzz")
	layer := v1.Descriptor{MediaType: image.MediaTypeGzip, Size: 20, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}}
	meta, _ := json.Marshal(&Meta{Key: key, Part: "p", Location: "/opt/hbuild/parts/p", Layer: Layer{Digest: layer.Digest.String(), Size: 20, MediaType: image.MediaTypeGzip, DiffID: "sha256:" + strings.Repeat("c", 64)}})
	md, ms, _ := v1.SHA256(bytes.NewReader(meta))
	good := v1.Manifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: ArtifactType,
		Config:      v1.Descriptor{MediaType: ConfigMediaType, Size: ms, Digest: md, Data: meta},
		Layers:      []v1.Descriptor{layer},
		Annotations: map[string]string{AnnotationKey: key, AnnotationPart: "p", annotationCreated: "2026-01-02T03:04:05Z"},
	}
	old := good
	old.Config.Data = nil
	for _, m := range []v1.Manifest{good, old} {
		b, _ := json.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte(`{"schemaVersion":2,"layers":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := parseEntry(key, "sha256:x", raw)
		if err != nil {
			return
		}
		if e.Key != key || e.Config.MediaType != ConfigMediaType || e.Config.Data != nil || (e.Layer.MediaType != image.MediaTypeGzip && e.Layer.MediaType != image.MediaTypeZstd) {
			t.Fatalf("accepted a malformed entry: %+v", e)
		}
		if e.meta != nil && (e.meta.Key != key || e.meta.Layer.Digest != e.Layer.Digest.String()) {
			t.Fatalf("accepted metadata of another entry: %+v", e.meta)
		}
	})
}

func TestStripTar(t *testing.T) {
	type ent struct {
		name, link string
		typ        byte
	}
	mk := func(ents []ent) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, e := range ents {
			h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644}
			if e.typ == tar.TypeReg {
				h.Size = int64(len(e.name))
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if e.typ == tar.TypeReg {
				tw.Write([]byte(e.name))
			}
		}
		tw.Close()
		return b.Bytes()
	}
	const pfx = "opt/hbuild/parts/p"
	ok := []ent{
		{"opt/", "", tar.TypeDir}, {"opt/hbuild/", "", tar.TypeDir}, {"opt/hbuild/parts/", "", tar.TypeDir},
		{pfx + "/", "", tar.TypeDir}, {pfx + "/lib/", "", tar.TypeDir}, {pfx + "/lib/a", "", tar.TypeReg},
		{pfx + "/lib/b", pfx + "/lib/a", tar.TypeLink}, {pfx + "/lib/c", "/elsewhere", tar.TypeSymlink},
	}
	var out bytes.Buffer
	if err := stripTar(bytes.NewReader(mk(ok)), &out, pfx); err != nil {
		t.Fatal(err)
	}
	var got []string
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.Name+">"+h.Linkname)
	}
	if want := "lib/>,lib/a>,lib/b>lib/a,lib/c>/elsewhere"; strings.Join(got, ",") != want {
		t.Errorf("stripped %v, want %s", got, want)
	}
	for name, bad := range map[string][]ent{
		"file outside":       {{"etc/passwd", "", tar.TypeReg}},
		"file beside":        {{"opt/hbuild/parts/q/x", "", tar.TypeReg}},
		"dotdot":             {{pfx + "/../../x", "", tar.TypeReg}},
		"parent not a dir":   {{"opt/hbuild", "/", tar.TypeSymlink}},
		"hard link outside":  {{pfx + "/x", "etc/passwd", tar.TypeLink}},
		"prefix as file":     {{pfx, "", tar.TypeReg}},
		"prefix prefix only": {{pfx + "x/y", "", tar.TypeReg}},
	} {
		if err := stripTar(bytes.NewReader(mk(bad)), io.Discard, pfx); err == nil || !strings.Contains(err.Error(), "outside the part's location") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
