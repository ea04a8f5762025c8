package cache

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// ListEntries returns the registry's entries, sorted by part name then
// key. Tags that are not part keys are skipped; tags whose manifest is not
// an acceptable entry are reported as warnings.
func (r *Remote) ListEntries(ctx context.Context) ([]*RemoteEntry, []Warning, error) {
	if err := r.check(); err != nil {
		return nil, nil, err
	}
	tags, err := r.puller.List(ctx, r.repo)
	if notFound(err) {
		return nil, nil, nil // no repository yet: no entries
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list %s: %w", r.Ref(), r.note(err))
	}
	var keys []string
	for _, t := range tags {
		if validKey(t) == nil {
			keys = append(keys, t)
		}
	}
	found, ws := r.LookupAll(ctx, keys)
	if len(ws) > 0 && ws[0].Key == "" {
		return nil, nil, fmt.Errorf("list %s: %w", r.Ref(), ws[0].Err)
	}
	out := make([]*RemoteEntry, 0, len(found))
	for _, e := range found {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Part != out[j].Part {
			return out[i].Part < out[j].Part
		}
		return out[i].Key < out[j].Key
	})
	for i := range ws {
		ws[i].Op = "list"
	}
	return out, ws, nil
}

// Delete removes the entry of key: its manifest and tag, and its
// signature if it has one. The blobs stay
// until the registry's own garbage collection (registry garbage-collect)
// runs. Deleting a key that has no entry is not an error. The registry must
// allow deletes (distribution: storage.delete.enabled).
func (r *Remote) Delete(ctx context.Context, key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	if err := r.check(); err != nil {
		return err
	}
	tag := r.tag(key)
	desc, err := r.puller.Head(ctx, tag)
	if notFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", key[:12], r.note(err))
	}
	// Registries untag a manifest deleted by digest (distribution) or
	// delete by tag (newer ones, ggcr's): do both, then check.
	derr := r.pusher.Delete(ctx, r.repo.Digest(desc.Digest.String()))
	terr := r.pusher.Delete(ctx, tag)
	_, herr := r.puller.Head(ctx, tag)
	if notFound(herr) {
		r.deleteSignature(ctx, desc.Digest.String())
		return nil
	}
	if herr != nil {
		return fmt.Errorf("delete %s: %w", key[:12], r.note(herr))
	}
	err = derr
	if err == nil {
		err = terr
	}
	if err == nil {
		err = errors.New("the registry kept the tag")
	}
	return fmt.Errorf("delete %s: %w", key[:12], r.note(err))
}

// RemoteGCOptions select the entries RemoteGC removes: an entry goes when
// any selected criterion says so.
type RemoteGCOptions struct {
	// Keep, when non-nil, removes every entry whose key it does not hold
	// (hbuild cache gc --remote: the keys of the given profiles' plans).
	Keep map[string]bool
	// OlderThan removes entries pushed longer ago than this (a registry
	// records no use time); 0 = no age limit.
	OlderThan time.Duration
	// MaxBytes removes the oldest entries until the rest take at most this
	// many bytes; 0 = no size limit.
	MaxBytes int64
	// Parts removes the entries of these part names (hbuild cache prune
	// --remote PART...).
	Parts []string
	// All removes every entry.
	All    bool
	DryRun bool
	Now    time.Time // zero = time.Now()
}

// RemoteGC removes entries as opts select and says which (by key, sorted)
// and how many bytes of blobs they referenced. Blobs shared with other
// entries are counted once per entry. It stops at the first failed delete.
func (r *Remote) RemoteGC(ctx context.Context, opts RemoteGCOptions) (*GCReport, []Warning, error) {
	ents, ws, err := r.ListEntries(ctx)
	if err != nil {
		return nil, ws, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	// Oldest first (then by key), so MaxBytes keeps the newest.
	sort.Slice(ents, func(i, j int) bool {
		if !ents[i].Created.Equal(ents[j].Created) {
			return ents[i].Created.Before(ents[j].Created)
		}
		return ents[i].Key < ents[j].Key
	})
	var total int64
	for _, e := range ents {
		total += e.Size()
	}
	drop := map[string]bool{}
	parts := map[string]bool{}
	for _, p := range opts.Parts {
		parts[p] = true
	}
	for _, e := range ents {
		if opts.All || parts[e.Part] {
			drop[e.Key] = true
		}
		if opts.Keep != nil && !opts.Keep[e.Key] {
			drop[e.Key] = true
		}
		if opts.OlderThan > 0 && e.Created.Before(now.Add(-opts.OlderThan)) {
			drop[e.Key] = true
		}
	}
	left := total
	for _, e := range ents {
		if drop[e.Key] {
			left -= e.Size()
		}
	}
	for _, e := range ents {
		if opts.MaxBytes <= 0 || left <= opts.MaxBytes {
			break
		}
		if !drop[e.Key] {
			drop[e.Key] = true
			left -= e.Size()
		}
	}
	rep := &GCReport{}
	for _, e := range ents {
		if drop[e.Key] {
			rep.Entries = append(rep.Entries, e.Key)
			rep.Bytes += e.Size()
		}
	}
	sort.Strings(rep.Entries)
	if opts.DryRun {
		return rep, ws, nil
	}
	for _, k := range rep.Entries {
		if err := r.Delete(ctx, k); err != nil {
			return rep, ws, err
		}
	}
	return rep, ws, nil
}
