package debian

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ChecksumError reports downloaded or cached data whose checksum or size is
// not what a signed index says.
type ChecksumError struct {
	What       string
	Want, Got  string
	WantSize   int64
	GotSize    int64
	SizeDiffer bool
}

func (e *ChecksumError) Error() string {
	if e.SizeDiffer {
		return fmt.Sprintf("verify %s: size is %d bytes, the signed index says %d", e.What, e.GotSize, e.WantSize)
	}
	return fmt.Sprintf("verify %s: sha256 is %s, the signed index says %s", e.What, e.Got, e.Want)
}

// blobPath is where the download cache keeps a blob: <cache>/blobs/sha256/<hex>.
func blobPath(cacheDir, sha string) string {
	return filepath.Join(cacheDir, "blobs", "sha256", sha)
}

// BlobPath returns where the download cache under cacheDir keeps the blob
// with this SHA-256 (whether or not it is there).
func BlobPath(cacheDir, sha256hex string) string { return blobPath(cacheDir, sha256hex) }

// haveBlob reports whether the cache holds the blob with the expected size
// (size < 0: any size).
func haveBlob(cacheDir, sha string, size int64) bool {
	st, err := os.Stat(blobPath(cacheDir, sha))
	return err == nil && st.Mode().IsRegular() && (size < 0 || st.Size() == size)
}

// httpStatusError is a non-200 answer.
type httpStatusError struct {
	URL    string
	Status int
}

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("GET %s: %s", e.URL, http.StatusText(e.Status))
}

// NotFound reports whether err is a 404 from the archive.
func isNotFound(err error) bool {
	var he *httpStatusError
	return errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusGone)
}

func (o *Options) client() *http.Client {
	if o.Client != nil {
		return o.Client
	}
	return http.DefaultClient
}

func (o *Options) event(format string, args ...any) {
	if o.Events != nil {
		o.Events(fmt.Sprintf(format, args...))
	}
}

// get reads a small file (InRelease) whole.
func (o *Options) get(ctx context.Context, url string) ([]byte, error) {
	var data []byte
	err := o.retry(ctx, url, func() error {
		rc, err := o.open(ctx, url)
		if err != nil {
			return err
		}
		defer rc.Close()
		data, err = io.ReadAll(io.LimitReader(rc, 64<<20))
		if err != nil {
			return fmt.Errorf("read %s: %w", url, err)
		}
		return nil
	})
	return data, err
}

func (o *Options) open(ctx context.Context, url string) (io.ReadCloser, error) {
	if p, ok := strings.CutPrefix(url, "file://"); ok {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil, &httpStatusError{URL: url, Status: http.StatusNotFound}
		}
		return f, err
	}
	if o.Offline {
		return nil, fmt.Errorf("fetch %s: offline, and it is not in the cache", url)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	resp, err := o.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &httpStatusError{URL: url, Status: resp.StatusCode}
	}
	return resp.Body, nil
}

// retry runs fn up to three times with backoff, except for answers that a
// retry cannot change (404, checksum mismatch, cancellation).
func (o *Options) retry(ctx context.Context, url string, fn func() error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			o.event("retry %s: %v", url, err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		err = fn()
		var he *httpStatusError
		var ce *ChecksumError
		if err == nil || ctx.Err() != nil || errors.As(err, &ce) || o.Offline ||
			(errors.As(err, &he) && he.Status < 500) {
			return err
		}
	}
	return err
}

// fetchBlob makes sure the cache holds the blob with the given SHA-256 and
// size (size < 0: unknown), downloading it from url when it is missing, and
// returns its path. A download that does not match never reaches the cache.
func (o *Options) fetchBlob(ctx context.Context, url, what, sha string, size int64) (string, error) {
	sha = strings.ToLower(sha)
	if len(sha) != 64 {
		return "", fmt.Errorf("fetch %s: bad sha256 %q", what, sha)
	}
	dst := blobPath(o.CacheDir, sha)
	if haveBlob(o.CacheDir, sha, size) {
		return dst, nil
	}
	err := o.retry(ctx, url, func() error {
		rc, err := o.open(ctx, url)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = putBlob(o.CacheDir, rc, what, sha, size)
		return err
	})
	if err != nil {
		return "", err
	}
	return dst, nil
}

// putBlob copies r into the cache, verifying sha and size (when given), and
// returns the blob's SHA-256.
func putBlob(cacheDir string, r io.Reader, what, sha string, size int64) (string, error) {
	dir := filepath.Join(cacheDir, "blobs", "sha256")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create download cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("create download cache entry: %w", err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		tmp.Close()
		return "", fmt.Errorf("download %s: %w", what, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", what, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if size >= 0 && n != size {
		return "", &ChecksumError{What: what, WantSize: size, GotSize: n, SizeDiffer: true}
	}
	if sha != "" && got != sha {
		return "", &ChecksumError{What: what, Want: sha, Got: got}
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", what, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, got)); err != nil {
		return "", fmt.Errorf("store %s: %w", what, err)
	}
	return got, nil
}
