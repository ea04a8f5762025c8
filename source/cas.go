package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// CAS is the content-addressed store of downloads: every blob is a file
// named by its sha256 under <dir>/sha256/. Blobs are written to a temporary
// file in <dir>/tmp, synced and renamed, so a reader never sees a partial
// blob and a crash leaves the store valid. Several processes may share it.
//
// Beside the blobs, an index maps other identities of a blob (an md5 a
// profile pins, an unpinned URL, a git commit) to its sha256:
// <dir>/index/<kind>/<key> holds the sha256 as text.
type CAS struct {
	dir string
}

// staleTemp is how old a temporary file must be before OpenCAS removes it
// as left over by a crashed process.
const staleTemp = 24 * time.Hour

// OpenCAS opens (creating it if needed) the store rooted at dir, normally
// <cache>/blobs.
func OpenCAS(dir string) (*CAS, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open cas %s: %w", dir, err)
	}
	for _, sub := range []string{"sha256", "tmp", "index", "locks"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return nil, fmt.Errorf("open cas: %w", err)
		}
	}
	c := &CAS{dir: abs}
	c.removeStale()
	return c, nil
}

func (c *CAS) removeStale() {
	ents, err := os.ReadDir(filepath.Join(c.dir, "tmp"))
	if err != nil {
		return
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTemp {
			os.Remove(filepath.Join(c.dir, "tmp", e.Name()))
		}
	}
}

// Dir returns the root of the store.
func (c *CAS) Dir() string { return c.dir }

// Path returns where the blob with this sha256 is (or would be) stored.
func (c *CAS) Path(sha256hex string) string {
	return filepath.Join(c.dir, "sha256", sha256hex)
}

// Has reports whether the blob is in the store.
func (c *CAS) Has(sha256hex string) bool {
	if !validHex(sha256hex, 64) {
		return false
	}
	fi, err := os.Stat(c.Path(sha256hex))
	return err == nil && fi.Mode().IsRegular()
}

// Put stores what r yields and returns its sha256. It is atomic: the blob
// appears whole or not at all.
func (c *CAS) Put(r io.Reader) (string, error) {
	w, err := c.newWriter(nil)
	if err != nil {
		return "", err
	}
	defer w.abort()
	if _, err := io.Copy(w, r); err != nil {
		return "", fmt.Errorf("put blob: %w", err)
	}
	return w.commit()
}

// Lookup returns the sha256 of the blob recorded for a checksum, if the
// blob is in the store. For a sha256 checksum it is the blob itself.
func (c *CAS) Lookup(sum Checksum) (string, bool) {
	if sum.Algo == "sha256" {
		return sum.Hex, c.Has(sum.Hex)
	}
	return c.LookupKey(sum.Algo, sum.Hex)
}

// Record notes that the blob sha256hex has checksum sum. Only verified
// digests may be recorded.
func (c *CAS) Record(sum Checksum, sha256hex string) error {
	if sum.Algo == "sha256" {
		return nil
	}
	return c.RecordKey(sum.Algo, sum.Hex, sha256hex)
}

// LookupKey returns the blob recorded under index kind and key, if the
// index entry and the blob exist.
func (c *CAS) LookupKey(kind, key string) (string, bool) {
	p, err := c.indexPath(kind, key)
	if err != nil {
		return "", false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", false
	}
	h := strings.TrimSpace(string(b))
	return h, c.Has(h)
}

// RecordKey records, atomically, that index kind's key names blob sha256hex.
// kind is a lower-case word, key lower-case hexadecimal.
func (c *CAS) RecordKey(kind, key, sha256hex string) error {
	p, err := c.indexPath(kind, key)
	if err != nil {
		return err
	}
	if !validHex(sha256hex, 64) {
		return fmt.Errorf("record %s %s: %q is not a sha256", kind, key, sha256hex)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("record %s %s: %w", kind, key, err)
	}
	if err := writeFileAtomic(p, []byte(sha256hex+"\n"), 0o644); err != nil {
		return fmt.Errorf("record %s %s: %w", kind, key, err)
	}
	return nil
}

func (c *CAS) indexPath(kind, key string) (string, error) {
	if kind == "" || strings.Trim(kind, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		return "", fmt.Errorf("cas index: bad kind %q", kind)
	}
	if !validHex(key, -1) {
		return "", fmt.Errorf("cas index: key %q is not lower-case hexadecimal", key)
	}
	return filepath.Join(c.dir, "index", kind, key), nil
}

// keyOf turns an arbitrary string (a URL) into an index key.
func keyOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func validHex(s string, n int) bool {
	if s == "" || (n >= 0 && len(s) != n) {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// lock takes an exclusive lock named by key (between processes and between
// goroutines: flock locks belong to open files). It waits until the lock is
// free or ctx is done.
func (c *CAS) lock(ctx context.Context, key string) (unlock func(), err error) {
	p := filepath.Join(c.dir, "locks", keyOf(key))
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	done := make(chan error, 1)
	go func() { done <- flock(f) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
		return func() { f.Close() }, nil
	case <-ctx.Done():
		// The goroutine gets the lock eventually; closing the file then
		// releases it.
		go func() { <-done; f.Close() }()
		return nil, ctx.Err()
	}
}

func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// blobWriter writes a blob to a temporary file while hashing it.
type blobWriter struct {
	c    *CAS
	f    *os.File
	hash *multiHash
	n    int64
}

func (c *CAS) newWriter(sums []Checksum) (*blobWriter, error) {
	f, err := os.CreateTemp(filepath.Join(c.dir, "tmp"), "blob-*")
	if err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	return &blobWriter{c: c, f: f, hash: newMultiHash(sums)}, nil
}

func (w *blobWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.hash.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// reset empties the blob to start again.
func (w *blobWriter) reset() error {
	if err := w.f.Truncate(0); err != nil {
		return err
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w.hash.Reset()
	w.n = 0
	return nil
}

// abort removes the temporary file (a no-op after commit).
func (w *blobWriter) abort() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
}

// commit syncs the temporary file and renames it to its sha256.
func (w *blobWriter) commit() (string, error) {
	sum := w.hash.sum("sha256")
	name := w.f.Name()
	if err := w.f.Chmod(0o444); err != nil {
		w.abort()
		return "", fmt.Errorf("commit blob: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		w.abort()
		return "", fmt.Errorf("commit blob: %w", err)
	}
	if err := w.f.Close(); err != nil {
		w.f = nil
		os.Remove(name)
		return "", fmt.Errorf("commit blob: %w", err)
	}
	w.f = nil
	if w.c.Has(sum) {
		os.Remove(name)
		return sum, nil
	}
	if err := os.Rename(name, w.c.Path(sum)); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("commit blob: %w", err)
	}
	return sum, nil
}

// writeFileAtomic writes a small file through a synced temporary file in
// the same directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	name := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}
