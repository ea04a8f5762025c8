package source

import (
	"context"
	"fmt"
	"io"
	"os"
)

// SharedCache is a store of sources shared between machines, as SlapOS's
// shacache: a machine with no route to an upstream site fetches from it.
// cache/ implements it on a registry. Keys are checksums ("md5:<hex>",
// "sha256:<hex>" ...) for files and "git:<commit>" for git exports.
//
// What comes from a SharedCache is verified like any download: a blob
// whose checksum does not match is never used, and only verified blobs
// are pushed.
type SharedCache interface {
	// Fetch writes the blob stored under key to w. found is false (and err
	// nil) when the cache does not have it.
	Fetch(ctx context.Context, key string, w io.Writer) (found bool, err error)
	// Push stores the blob at path, whose sha256 is given, under keys.
	Push(ctx context.Context, keys []string, path, sha256 string) error
}

// SharedFrom is the Fetched.From of a source that came from the shared
// cache.
const SharedFrom = "shared source cache"

// fromShared tries the shared cache for a file known by sums. A blob that
// does not verify is an error in tried, not a result.
func (f *Fetcher) fromShared(ctx context.Context, src location, sums []Checksum) (*Fetched, error) {
	for _, c := range preferSHA256(sums) {
		w, err := f.CAS.newWriter(sums)
		if err != nil {
			return nil, err
		}
		found, err := f.Shared.Fetch(ctx, c.String(), w)
		if err != nil || !found {
			w.abort()
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", SharedFrom, c, err)
			}
			continue
		}
		if err := w.hash.verify(SharedFrom+" "+c.String(), sums); err != nil {
			w.abort()
			return nil, err
		}
		size := w.n
		sha, err := w.commit()
		if err != nil {
			return nil, err
		}
		for _, c := range sums {
			if err := f.CAS.Record(c, sha); err != nil {
				return nil, err
			}
		}
		fd := f.fetched(sha, src.name, SharedFrom)
		fd.Size = size
		return fd, nil
	}
	return nil, nil
}

func preferSHA256(sums []Checksum) []Checksum {
	out := make([]Checksum, 0, len(sums))
	for _, c := range sums {
		if c.Algo == "sha256" {
			out = append([]Checksum{c}, out...)
		} else {
			out = append(out, c)
		}
	}
	return out
}

// push stores a verified download in the shared cache, when there is one
// and pushing is on. A failure does not fail the fetch: it is noted.
func (f *Fetcher) push(ctx context.Context, keys []string, path, sha string) string {
	if f.Shared == nil || f.NoPush {
		return ""
	}
	if err := f.Shared.Push(ctx, keys, path, sha); err != nil {
		return fmt.Sprintf("push to the %s: %v", SharedFrom, err)
	}
	return ""
}

// gitFromShared fetches an export of commit from the shared cache and
// checks it against the commit hash before it enters the CAS.
func (f *Fetcher) gitFromShared(ctx context.Context, commit string) (*GitFetched, error) {
	w, err := f.CAS.newWriter(nil)
	if err != nil {
		return nil, err
	}
	defer w.abort()
	found, err := f.Shared.Fetch(ctx, "git:"+commit, w)
	if err != nil {
		return nil, fmt.Errorf("%s git:%s: %w", SharedFrom, commit, err)
	}
	if !found {
		return nil, nil
	}
	in, err := os.Open(w.f.Name())
	if err != nil {
		return nil, err
	}
	tree, err := verifyGitArchive(in, commit)
	in.Close()
	if err != nil {
		return nil, fmt.Errorf("%s git:%s: %w", SharedFrom, commit, err)
	}
	size := w.n
	sha, err := w.commit()
	if err != nil {
		return nil, err
	}
	if err := f.CAS.RecordKey("git", commit, sha); err != nil {
		return nil, err
	}
	return &GitFetched{Commit: commit, Tree: tree, Path: f.CAS.Path(sha), SHA256: sha, Size: size, From: SharedFrom}, nil
}
