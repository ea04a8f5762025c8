package cache

import (
	"context"
	"crypto"
	"fmt"
)

// Modes of the shared cache (--cache-mode).
const (
	ModeRead      = "read"      // pull hits, never push
	ModeWrite     = "write"     // push what is built, never pull
	ModeReadWrite = "readwrite" // both (the default)
)

// RemoteSettings are the user's choices for the shared cache: from
// [buildout] hbuild-cache and hbuild-cache-key, overridden by --cache,
// --cache-mode, --insecure-registry and --cache-require-signed.
type RemoteSettings struct {
	Ref           string // REGISTRY/REPO; "" = no shared cache
	Mode          string // ModeRead, ModeWrite or ModeReadWrite; "" = ModeReadWrite
	KeyFile       string // PEM ed25519 or ECDSA P-256 key: a private key signs pushes and verifies, a public key only verifies
	Insecure      bool   // plain HTTP, loopback registries only
	RequireSigned bool   // reject entries without a valid signature by the key
	DeferTrees    bool   // pull layers without unpacking trees (RemoteOptions.DeferTrees): only for callers that use Store.EnsureTree
}

// Open opens the shared cache the settings describe; it returns nil, nil
// when Ref is empty. It does not contact the registry.
func (s RemoteSettings) Open() (*Remote, error) {
	if s.Ref == "" {
		if s.RequireSigned || s.Insecure {
			return nil, fmt.Errorf("--cache-require-signed and --insecure-registry need a shared cache: set --cache REGISTRY/REPO or [buildout] hbuild-cache")
		}
		return nil, nil
	}
	opts := RemoteOptions{Insecure: s.Insecure, RequireSigned: s.RequireSigned, Mode: s.Mode, DeferTrees: s.DeferTrees}
	if s.KeyFile != "" {
		priv, pub, err := LoadCacheKey(s.KeyFile)
		if err != nil {
			return nil, err
		}
		opts.SignKey = priv
		opts.TrustedKeys = []crypto.PublicKey{pub}
	}
	return OpenRemote(s.Ref, opts)
}

func checkMode(m string) (string, error) {
	switch m {
	case "":
		return ModeReadWrite, nil
	case ModeRead, ModeWrite, ModeReadWrite:
		return m, nil
	}
	return "", fmt.Errorf("cache mode %q: use read, write or readwrite", m)
}

// Mode is the cache's mode.
func (r *Remote) Mode() string { return r.opts.Mode }

// Reads reports whether builds should pull from the cache.
func (r *Remote) Reads() bool { return r.opts.Mode != ModeWrite }

// Writes reports whether builds should push to the cache.
func (r *Remote) Writes() bool { return r.opts.Mode != ModeRead }

// Prefetch readies the parts of keys that the local store lacks: it looks
// them all up at once (LookupJobs at a time) and pulls each hit as soon as
// it is found (PullJobs at a time), then commits all pulled entries into s
// together. It returns the entries pulled; every other key missing from s
// is for the caller to build (the warnings say why those that were found
// could not be used). In write-only mode it does nothing.
func (r *Remote) Prefetch(ctx context.Context, s *Store, keys []string) (map[string]*Entry, []Warning) {
	if !r.Reads() {
		return map[string]*Entry{}, nil
	}
	var missing []string
	for _, k := range keys {
		if e, err := s.Get(k); err == nil && e == nil {
			missing = append(missing, k)
		}
	}
	missing = uniqueSorted(missing)
	lerrs := make([]error, len(missing))
	b := newPullBatch(missing)
	pulls := make(chan struct{}, r.opts.PullJobs)
	forEach(len(missing), r.opts.LookupJobs, func(i int) {
		e, err := r.Lookup(ctx, missing[i])
		if err != nil || e == nil {
			lerrs[i] = err
			return
		}
		pulls <- struct{}{}
		defer func() { <-pulls }()
		b.fetch(ctx, r, s, i, e)
	})
	pulled := b.commit(ctx, s)
	return pulled, append(collect("lookup", missing, lerrs), collect("pull", missing, b.errs)...)
}
