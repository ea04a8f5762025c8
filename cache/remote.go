package cache

// The shared cache: part entries kept as OCI artifacts in a registry, one
// per part key, tagged by the key so that a lookup is one request.
//
// An entry is an image-spec 1.1 manifest with artifactType ArtifactType,
// the part's metadata (Meta as JSON) as its config and the part's layer as
// its only layer. The config descriptor also carries the metadata itself
// in its "data" field (image-spec 1.1 embedded content), so that a hit
// costs two requests: the manifest by tag and the layer blob. The config
// blob is pushed all the same (registries want every descriptor's blob),
// and entries without embedded data (pushed by earlier hbuild versions)
// are still read, their metadata fetched from the blob. Annotations repeat
// the key and the part name and give the push time. When the pusher has a
// key, the manifest is signed in cosign's format (remote_sign.go). A
// pulled entry is checked against every digest and must name the key it
// was looked up by; anything that fails is reported as a Warning and the
// caller builds the part itself.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hbuild/hbuild/image"
)

// Media types and annotations of a remote cache entry.
const (
	ArtifactType    = "application/vnd.hbuild.part.v1+json"        // the manifest's artifactType
	ConfigMediaType = "application/vnd.hbuild.part.config.v1+json" // the config blob: Meta as JSON

	AnnotationKey     = "org.hbuild.part.key"  // the part key (the tag repeats it)
	AnnotationPart    = "org.hbuild.part.name" // the part (section) name
	annotationCreated = "org.opencontainers.image.created"
)

// maxConfigSize bounds the metadata blob read from a registry;
// maxEmbeddedConfig the metadata embedded in a manifest (larger metadata
// is only a blob, to keep manifests well under registries' limits).
const (
	maxConfigSize     = 16 << 20
	maxEmbeddedConfig = 256 << 10
)

// RemoteOptions configure a Remote.
type RemoteOptions struct {
	// Insecure allows plain HTTP (and unverified TLS). Only registries on a
	// loopback address may be insecure.
	Insecure bool
	// Keychain resolves credentials; nil = authn.DefaultKeychain (docker
	// config and credential helpers).
	Keychain authn.Keychain
	// Transport replaces the HTTP transport (tests); nil = a transport with
	// dial and response-header timeouts.
	Transport http.RoundTripper
	// LookupJobs and PullJobs bound the requests in flight; 0 = 64 and 16.
	LookupJobs, PullJobs int
	// SignKey, when set, signs every pushed entry (cosign's format); its
	// public key is trusted for verification too. An ed25519 or ECDSA
	// P-256 key (ed25519.PrivateKey, *ecdsa.PrivateKey).
	SignKey crypto.Signer
	// TrustedKeys verify entry signatures: ed25519.PublicKey or
	// *ecdsa.PublicKey (P-256).
	TrustedKeys []crypto.PublicKey
	// RequireSigned rejects entries without a valid signature by a trusted
	// key.
	RequireSigned bool
	// Mode is ModeRead, ModeWrite or ModeReadWrite ("" = ModeReadWrite);
	// it only informs Reads, Writes and Prefetch.
	Mode string
	// DeferTrees makes pulls (Pull, PullAll, Prefetch) store the layer and
	// the metadata of an entry but not its unpacked tree: the layer is
	// checked against its digest and size only; its diff ID and that it
	// holds nothing outside the part's location are checked by
	// Store.EnsureTree, which unpacks a tree when a build needs it as a
	// dependency, so a fully cached build neither decompresses nor creates
	// a tree. Callers must call EnsureTree before using Entry.Tree.
	DeferTrees bool
}

// Remote is a shared part cache in a registry repository.
type Remote struct {
	repo    name.Repository
	opts    RemoteOptions
	trusted map[string]crypto.PublicKey // KeyID → key
	puller  *remote.Puller
	pusher  *remote.Pusher

	down atomic.Pointer[error] // first sign that the registry is unreachable
}

// RemoteEntry is an entry found in the registry.
type RemoteEntry struct {
	Key     string
	Part    string
	Digest  string // manifest digest
	Config  v1.Descriptor
	Layer   v1.Descriptor
	Created time.Time // push time (zero if the entry does not say)
	Signer  string    // KeyID of a verified signature; "" = not verified

	meta *Meta // the metadata embedded in the manifest, checked; nil = fetch the config blob
}

// Size is the bytes the entry's blobs take in the registry.
func (e *RemoteEntry) Size() int64 { return e.Config.Size + e.Layer.Size }

// Warning is a problem of the remote cache that does not fail a build:
// the part concerned is built locally instead.
type Warning struct {
	Key string // part key; "" for the registry as a whole (unreachable, refused)
	Op  string // "lookup", "pull" or "list"
	Err error
}

func (w Warning) Error() string {
	if w.Key == "" {
		return fmt.Sprintf("remote cache %s: %v", w.Op, w.Err)
	}
	return fmt.Sprintf("remote cache %s of %s: %v", w.Op, w.Key[:min(12, len(w.Key))], w.Err)
}

func (w Warning) Unwrap() error { return w.Err }

// ErrUnavailable wraps every error once the registry has proved
// unreachable: later operations fail at once instead of waiting for
// timeouts again.
var ErrUnavailable = errors.New("registry unavailable")

// OpenRemote prepares the remote cache in repository ref
// (REGISTRY/REPO, or docker://REGISTRY/REPO). It does not contact the
// registry.
func OpenRemote(ref string, opts RemoteOptions) (*Remote, error) {
	ref = strings.TrimPrefix(ref, "docker://")
	host, _, ok := strings.Cut(ref, "/")
	if !ok || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return nil, fmt.Errorf("remote cache %q: name the registry and the repository, as REGISTRY/REPO (e.g. localhost:5000/hbuild-cache)", ref)
	}
	var nopts []name.Option
	if opts.Insecure {
		if !loopback(host) {
			return nil, fmt.Errorf("remote cache %q: an insecure registry must be on a loopback address (127.0.0.1, [::1] or localhost)", ref)
		}
		nopts = append(nopts, name.Insecure)
	}
	repo, err := name.NewRepository(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("remote cache %q: %w", ref, err)
	}
	if opts.Mode, err = checkMode(opts.Mode); err != nil {
		return nil, err
	}
	if opts.LookupJobs <= 0 {
		opts.LookupJobs = 64
	}
	if opts.PullJobs <= 0 {
		opts.PullJobs = 16
	}
	r := &Remote{repo: repo, opts: opts, trusted: map[string]crypto.PublicKey{}}
	for _, k := range opts.TrustedKeys {
		if err := checkKey(k); err != nil {
			return nil, fmt.Errorf("remote cache: trusted key: %w", err)
		}
		r.trusted[KeyID(k)] = k
	}
	if opts.SignKey != nil {
		pub := opts.SignKey.Public()
		if err := checkKey(pub); err != nil {
			return nil, fmt.Errorf("remote cache: signing key: %w", err)
		}
		r.trusted[KeyID(pub)] = pub
	}
	if opts.RequireSigned && len(r.trusted) == 0 {
		return nil, errors.New("remote cache: requiring signed entries needs a key to verify them (hbuild-cache-key)")
	}
	tr := opts.Transport
	if tr == nil {
		t := &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          128,
			MaxIdleConnsPerHost:   opts.LookupJobs,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
		if opts.Insecure {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for, loopback only
		}
		tr = t
	}
	kc := opts.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	ropts := []remote.Option{
		remote.WithTransport(tr),
		remote.WithAuthFromKeychain(kc),
		remote.WithRetryBackoff(remote.Backoff{Duration: 200 * time.Millisecond, Factor: 3, Jitter: 0.1, Steps: 3}),
		remote.WithJobs(2 * opts.PullJobs), // blob downloads in flight: a config and a layer per pull
	}
	if r.puller, err = remote.NewPuller(ropts...); err != nil {
		return nil, fmt.Errorf("remote cache: %w", err)
	}
	if r.pusher, err = remote.NewPusher(ropts...); err != nil {
		return nil, fmt.Errorf("remote cache: %w", err)
	}
	return r, nil
}

func loopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Ref is the repository, as REGISTRY/REPO.
func (r *Remote) Ref() string { return r.repo.Name() }

func (r *Remote) tag(key string) name.Tag { return r.repo.Tag(key) }

// unreachable reports whether err says the registry cannot be reached (as
// opposed to a refusal or a bad entry).
func unreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode >= 500
	}
	// A body cut short (io.ErrUnexpectedEOF) is not enough: a truncated
	// blob looks the same, and a registry that died fails the next request.
	var ne net.Error
	return errors.As(err, &ne)
}

// refused reports whether the registry refused our credentials.
func refused(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden)
}

func notFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}

// check fails fast once the registry proved unreachable.
func (r *Remote) check() error {
	if p := r.down.Load(); p != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, *p)
	}
	return nil
}

// note records err if it says the registry is unreachable and returns it.
func (r *Remote) note(err error) error {
	if unreachable(err) && !errors.Is(err, ErrUnavailable) {
		r.down.CompareAndSwap(nil, &err)
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

// Available reports whether the registry has not proved unreachable.
func (r *Remote) Available() bool { return r.down.Load() == nil }

// Lookup finds the entry of key: one request (the manifest by tag), and
// with trusted keys one more for its signature. It returns nil, nil when
// the registry has none; an error when it cannot say or when its entry is
// not acceptable.
func (r *Remote) Lookup(ctx context.Context, key string) (*RemoteEntry, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	desc, err := r.puller.Get(ctx, r.tag(key))
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, r.note(err)
	}
	e, err := parseEntry(key, desc.Digest.String(), desc.Manifest)
	if err != nil {
		return nil, err
	}
	if e.Signer, err = r.verify(ctx, e.Digest); err != nil {
		return nil, err
	}
	return e, nil
}

// parseEntry checks a manifest fetched by the tag key and returns its
// entry, with its embedded metadata checked (signatures are not looked
// at).
func parseEntry(key, digest string, raw []byte) (*RemoteEntry, error) {
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("parse entry manifest: %w", err)
	}
	switch {
	case m.SchemaVersion != 2 || m.MediaType != types.OCIManifestSchema1:
		return nil, fmt.Errorf("entry %s is not an OCI manifest", digest)
	case m.ArtifactType != ArtifactType:
		return nil, fmt.Errorf("entry %s is not an hbuild part (artifactType %q)", digest, m.ArtifactType)
	case m.Config.MediaType != ConfigMediaType:
		return nil, fmt.Errorf("entry %s: config media type %q, want %s", digest, m.Config.MediaType, ConfigMediaType)
	case len(m.Layers) != 1:
		return nil, fmt.Errorf("entry %s has %d layers, want 1", digest, len(m.Layers))
	case m.Layers[0].MediaType != image.MediaTypeGzip && m.Layers[0].MediaType != image.MediaTypeZstd:
		return nil, fmt.Errorf("entry %s: layer media type %q", digest, m.Layers[0].MediaType)
	case m.Annotations[AnnotationKey] != key:
		return nil, fmt.Errorf("entry %s names key %q, not the key it is tagged with", digest, m.Annotations[AnnotationKey])
	case m.Config.Size > maxConfigSize || m.Config.Size < 0 || m.Layers[0].Size < 0:
		return nil, fmt.Errorf("entry %s: bad blob sizes", digest)
	}
	e := &RemoteEntry{Key: key, Part: m.Annotations[AnnotationPart], Digest: digest, Config: m.Config, Layer: m.Layers[0]}
	if t, err := time.Parse(time.RFC3339, m.Annotations[annotationCreated]); err == nil {
		e.Created = t
	}
	if m.Config.Data != nil {
		d := m.Config.Data
		if int64(len(d)) != m.Config.Size || m.Config.Digest.Algorithm != "sha256" || fmt.Sprintf("%x", sha256.Sum256(d)) != m.Config.Digest.Hex {
			return nil, fmt.Errorf("entry %s: the embedded metadata does not match the config's digest or size", digest)
		}
		meta, err := parseMeta(e, d)
		if err != nil {
			return nil, err
		}
		e.meta = meta
	}
	// The config descriptor as it would be without the data: what Size
	// and callers expect of it.
	e.Config.Data = nil
	return e, nil
}

// LookupAll looks every key up at once, as Lookup does. Found
// entries are returned by key. A key in neither the map nor the warnings
// is simply not in the cache. Warnings concern single keys (a bad entry),
// or, with Key "", the registry as a whole (unreachable, credentials
// refused): then it is reported once. Warnings are sorted by key.
func (r *Remote) LookupAll(ctx context.Context, keys []string) (map[string]*RemoteEntry, []Warning) {
	keys = uniqueSorted(keys)
	found := make([]*RemoteEntry, len(keys))
	errs := make([]error, len(keys))
	forEach(len(keys), r.opts.LookupJobs, func(i int) {
		found[i], errs[i] = r.Lookup(ctx, keys[i])
	})
	out := map[string]*RemoteEntry{}
	for i, k := range keys {
		if found[i] != nil {
			out[k] = found[i]
		}
	}
	return out, collect("lookup", keys, errs)
}

// collect turns per-key errors into warnings: registry-wide ones once,
// with Key "", first; then the others by key.
func collect(op string, keys []string, errs []error) []Warning {
	var global *Warning
	var ws []Warning
	for i, err := range errs {
		if err == nil {
			continue
		}
		if unreachable(err) || refused(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			if global == nil {
				global = &Warning{Op: op, Err: err}
			}
			continue
		}
		ws = append(ws, Warning{Key: keys[i], Op: op, Err: err})
	}
	if global != nil {
		ws = append([]Warning{*global}, ws...)
	}
	return ws
}

func uniqueSorted(keys []string) []string {
	out := append([]string(nil), keys...)
	sort.Strings(out)
	j := 0
	for i, k := range out {
		if i == 0 || k != out[j-1] {
			out[j] = k
			j++
		}
	}
	return out[:j]
}

// forEach runs f(0..n-1) with at most jobs at once.
func forEach(n, jobs int, f func(i int)) {
	sem := make(chan struct{}, max(1, jobs))
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// Pull copies the entry into the local store and returns the local entry.
// The layer and metadata are checked against the manifest's digests, the
// metadata must name the entry's key and describe its layer, and the layer
// must hold nothing outside the part's location. If the store already has
// the key (another process put it there), that entry is returned. On any
// error nothing is added to the store and the caller should build the part.
func (r *Remote) Pull(ctx context.Context, e *RemoteEntry, s *Store) (*Entry, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	unlock, err := s.Lock(ctx, e.Key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if ent, err := s.Get(e.Key); err != nil || ent != nil {
		return ent, err
	}
	p, meta, err := r.fetch(ctx, e, s)
	if err != nil {
		return nil, err
	}
	return p.Commit(meta)
}

// fetch pulls the entry into a new pending entry of s: the metadata (from
// the manifest, or for older entries from the config blob), checked, then
// the layer, unpacked into the tree as it is downloaded and checked. On
// error nothing is left.
func (r *Remote) fetch(ctx context.Context, e *RemoteEntry, s *Store) (*Pending, *Meta, error) {
	meta, err := r.entryMeta(ctx, e)
	if err != nil {
		return nil, nil, err
	}
	p, err := s.create(e.Key, !r.opts.DeferTrees)
	if err != nil {
		return nil, nil, err
	}
	if err := r.fetchInto(ctx, e, meta, p); err != nil {
		p.Abort()
		return nil, nil, err
	}
	return p, meta, nil
}

// entryMeta is a fresh copy of the entry's metadata.
func (r *Remote) entryMeta(ctx context.Context, e *RemoteEntry) (*Meta, error) {
	if e.meta == nil {
		return r.fetchMeta(ctx, e)
	}
	m := *e.meta
	return &m, nil
}

// PullAll pulls entries concurrently into s, checked as Pull checks them.
// Pulled entries are returned by key; every entry that is not there has a
// warning (with its key, or one warning with Key "" when the registry
// failed as a whole), and the caller builds those parts. The entries are
// fetched and unpacked concurrently, then committed together with
// Store.CommitAll (two file-system syncs for the whole batch); an entry
// that another process put in the store meanwhile is used as it is.
func (r *Remote) PullAll(ctx context.Context, entries map[string]*RemoteEntry, s *Store) (map[string]*Entry, []Warning) {
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := newPullBatch(keys)
	forEach(len(keys), r.opts.PullJobs, func(i int) { b.fetch(ctx, r, s, i, entries[keys[i]]) })
	return b.commit(ctx, s), collect("pull", keys, b.errs)
}

// pullBatch is the state of pulling many keys into a store at once.
type pullBatch struct {
	keys    []string
	got     []*Entry
	errs    []error
	pending []*Pending
	metas   []*Meta
}

func newPullBatch(keys []string) *pullBatch {
	n := len(keys)
	return &pullBatch{keys: keys, got: make([]*Entry, n), errs: make([]error, n), pending: make([]*Pending, n), metas: make([]*Meta, n)}
}

// fetch readies keys[i] from e: the store's entry if it has one, else a
// pending entry pulled from the registry.
func (b *pullBatch) fetch(ctx context.Context, r *Remote, s *Store, i int, e *RemoteEntry) {
	if b.errs[i] = r.check(); b.errs[i] != nil {
		return
	}
	if b.got[i], b.errs[i] = s.Get(b.keys[i]); b.got[i] != nil || b.errs[i] != nil {
		return
	}
	b.pending[i], b.metas[i], b.errs[i] = r.fetch(ctx, e, s)
}

// commit commits every pending entry in one batch and returns what the
// store has, by key.
func (b *pullBatch) commit(ctx context.Context, s *Store) map[string]*Entry {
	var batch []int
	for i, p := range b.pending {
		if p != nil {
			batch = append(batch, i)
		}
	}
	ps, ms := make([]*Pending, len(batch)), make([]*Meta, len(batch))
	for j, i := range batch {
		ps[j], ms[j] = b.pending[i], b.metas[i]
	}
	ents, cerrs := s.CommitAll(ctx, ps, ms)
	for j, i := range batch {
		b.got[i], b.errs[i] = ents[j], cerrs[j]
	}
	out := map[string]*Entry{}
	for i, k := range b.keys {
		if b.errs[i] == nil && b.got[i] != nil {
			out[k] = b.got[i]
		}
	}
	return out
}

func (r *Remote) blob(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error) {
	l, err := r.puller.Layer(ctx, r.repo.Digest(d.Digest.String()))
	if err != nil {
		return nil, r.note(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, r.note(err)
	}
	return rc, nil
}

// copyVerified copies a blob to w, checking its size and digest.
func (r *Remote) copyVerified(ctx context.Context, d v1.Descriptor, w io.Writer) error {
	if d.Digest.Algorithm != "sha256" {
		return fmt.Errorf("blob %s: only sha256 digests are accepted", d.Digest)
	}
	rc, err := r.blob(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	// Read exactly the announced size, make sure nothing follows, and
	// check the digest ourselves.
	h := sha256.New()
	src := &readErr{r: io.LimitReader(rc, d.Size)}
	n, err := io.Copy(io.MultiWriter(w, h), src)
	if err != nil {
		if src.err == nil {
			return fmt.Errorf("write blob %s: %w", d.Digest, err)
		}
		if unreachable(err) || ctx.Err() != nil {
			return r.note(fmt.Errorf("read blob %s: %w", d.Digest, err))
		}
		// ggcr checks the digest too, as the stream ends.
		return fmt.Errorf("blob %s does not match its digest or size: %w", d.Digest, err)
	}
	if n != d.Size {
		return fmt.Errorf("blob %s has %d bytes, the manifest says %d", d.Digest, n, d.Size)
	}
	if m, _ := io.ReadFull(rc, make([]byte, 1)); m != 0 {
		return fmt.Errorf("blob %s is longer than the manifest says (%d bytes)", d.Digest, d.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.Digest.Hex {
		return fmt.Errorf("blob %s does not match its digest (got sha256:%s)", d.Digest, got)
	}
	return nil
}

// readErr remembers the error of its reader, to tell it from a writer's.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// FetchMeta returns an entry's metadata (for hbuild cache inspect
// --remote), checked like Pull checks it: the one the manifest embeds, or
// for entries of earlier versions the config blob's.
func (r *Remote) FetchMeta(ctx context.Context, e *RemoteEntry) (*Meta, error) {
	if e.meta != nil {
		return r.entryMeta(ctx, e)
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r.fetchMeta(ctx, e)
}

// fetchMeta reads the metadata of an entry from its config blob.
func (r *Remote) fetchMeta(ctx context.Context, e *RemoteEntry) (*Meta, error) {
	var b bytes.Buffer
	if err := r.copyVerified(ctx, e.Config, &b); err != nil {
		return nil, fmt.Errorf("fetch metadata: %w", err)
	}
	return parseMeta(e, b.Bytes())
}

// parseMeta parses an entry's metadata and checks it against the entry.
func parseMeta(e *RemoteEntry, b []byte) (*Meta, error) {
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse metadata of entry %s: %w", e.Digest, err)
	}
	switch {
	case m.Key != e.Key:
		return nil, fmt.Errorf("metadata of entry %s names key %q, not %s", e.Digest, m.Key, e.Key)
	case m.Layer.Digest != e.Layer.Digest.String() || m.Layer.Size != e.Layer.Size || m.Layer.MediaType != string(e.Layer.MediaType):
		return nil, fmt.Errorf("metadata of entry %s describes layer %s, the manifest has %s", e.Digest, m.Layer.Digest, e.Layer.Digest)
	case !strings.HasPrefix(m.Layer.DiffID, "sha256:"):
		return nil, fmt.Errorf("metadata of entry %s: bad diff ID %q", e.Digest, m.Layer.DiffID)
	}
	if _, err := layerPrefix(m.Location); err != nil {
		return nil, fmt.Errorf("metadata of entry %s: %w", e.Digest, err)
	}
	return &m, nil
}

// layerPrefix is the path of a part's location inside its layer.
func layerPrefix(location string) (string, error) {
	p := strings.TrimPrefix(location, "/")
	if !strings.HasPrefix(location, "/") || p == "" || path.Clean(p) != p || strings.HasPrefix(p, "../") || p == ".." {
		return "", fmt.Errorf("bad part location %q", location)
	}
	return p, nil
}

// Push stores the part result of key (its layer blob and metadata) as an
// entry, and with a SignKey its signature, after the entry (a reader in
// between sees an unsigned entry). It is idempotent: when the registry
// already has an acceptable entry for key, nothing is written, and pushers
// racing on one key all succeed, leaving one complete entry. Callers
// report an error as a warning; it never fails a build.
func (r *Remote) Push(ctx context.Context, key, layerPath string, meta *Meta) error {
	if err := validKey(key); err != nil {
		return err
	}
	if err := r.check(); err != nil {
		return err
	}
	if existing, err := r.Lookup(ctx, key); err != nil && unreachable(err) {
		return err
	} else if existing != nil {
		return nil
	}
	m := *meta
	m.Key = key
	art, err := r.artifact(&m, layerPath)
	if err != nil {
		return err
	}
	digest, err := art.Digest()
	if err != nil {
		return err
	}
	// Registries are not atomic under racing pushes of the same blobs:
	// distribution may answer "blob unknown" to a manifest while another
	// pusher's link to the same blob is half written. Retry a few times,
	// and stop as soon as another pusher's entry is there.
	for attempt := 0; ; attempt++ {
		err = r.pusher.Push(ctx, r.tag(key), art)
		if err == nil {
			if r.opts.SignKey == nil {
				return nil
			}
			return r.pushSignature(ctx, digest.String())
		}
		if unreachable(err) || refused(err) || ctx.Err() != nil || attempt == pushAttempts-1 {
			return fmt.Errorf("push %s: %w", key[:12], r.note(err))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("push %s: %w", key[:12], ctx.Err())
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		}
		if existing, lerr := r.Lookup(ctx, key); lerr == nil && existing != nil {
			return nil
		}
	}
}

// pushAttempts bounds the retries of a push that the registry refused.
const pushAttempts = 4

// artifact makes the entry of m.
func (r *Remote) artifact(m *Meta, layerPath string) (v1.Image, error) {
	cfg, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	info := &image.LayerInfo{Digest: m.Layer.Digest, DiffID: m.Layer.DiffID, Size: m.Layer.Size, MediaType: m.Layer.MediaType}
	if info.MediaType == "" {
		info.MediaType = image.MediaTypeGzip
	}
	if st, err := os.Stat(layerPath); err != nil {
		return nil, fmt.Errorf("push %s: %w", m.Part, err)
	} else if st.Size() != info.Size {
		return nil, fmt.Errorf("push %s: layer %s has %d bytes, its metadata says %d", m.Part, layerPath, st.Size(), info.Size)
	}
	l, err := image.LayerFromFile(layerPath, info)
	if err != nil {
		return nil, err
	}
	ld, err := v1.NewHash(info.Digest)
	if err != nil {
		return nil, fmt.Errorf("push %s: layer digest: %w", m.Part, err)
	}
	cd, cs, err := v1.SHA256(bytes.NewReader(cfg))
	if err != nil {
		return nil, err
	}
	var data []byte
	if len(cfg) <= maxEmbeddedConfig {
		data = cfg
	}
	man := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ArtifactType,
		Config:        v1.Descriptor{MediaType: ConfigMediaType, Size: cs, Digest: cd, Data: data},
		Layers:        []v1.Descriptor{{MediaType: types.MediaType(info.MediaType), Size: info.Size, Digest: ld}},
		Annotations: map[string]string{
			AnnotationKey:     m.Key,
			AnnotationPart:    m.Part,
			annotationCreated: time.Now().UTC().Format(time.RFC3339),
		},
	}
	raw, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{raw: raw, config: cfg, layer: l, layerDigest: ld})
}

// artifact is a pushed entry: ggcr uploads its config and layer, then its
// manifest.
type artifact struct {
	raw, config []byte
	layer       v1.Layer
	layerDigest v1.Hash
}

func (a *artifact) RawManifest() ([]byte, error)        { return a.raw, nil }
func (a *artifact) RawConfigFile() ([]byte, error)      { return a.config, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == a.layerDigest {
		return a.layer, nil
	}
	return nil, fmt.Errorf("entry has no blob %s", h)
}
