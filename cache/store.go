package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Store is a cache directory.
type Store struct {
	dir string

	// failAt, when set (tests only), is called before each step of a
	// batch commit ("write", "sync", "rename", "sync-renames") with the
	// key concerned ("" for a sync); an error fails that step. Writes of
	// different keys call it concurrently.
	failAt func(step, key string) error
}

// Layer describes a part's layer blob.
type Layer struct {
	Digest    string `json:"digest"` // sha256:...
	DiffID    string `json:"diffID"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType"`
}

// Source records one input of a part.
type Source struct {
	Option string   `json:"option"`
	URL    string   `json:"url"`
	SHA256 string   `json:"sha256"`
	Sums   []string `json:"sums,omitempty"` // algo:hex as given in the profile
	Dest   string   `json:"dest"`
}

// Meta is an entry's meta.json.
type Meta struct {
	Key           string            `json:"key"`
	Part          string            `json:"part"`
	Recipe        string            `json:"recipe"`
	RecipeVersion string            `json:"recipeVersion"`
	Format        string            `json:"format"`
	Location      string            `json:"location"`
	Options       map[string]string `json:"options"`
	Sources       []Source          `json:"sources,omitempty"`
	Deps          map[string]string `json:"deps,omitempty"` // part name -> key
	Base          string            `json:"base,omitempty"`
	Platform      string            `json:"platform"`
	Layer         Layer             `json:"layer"`
	Built         time.Time         `json:"built"`
	Duration      float64           `json:"durationSeconds"`
	Policy        json.RawMessage   `json:"policy,omitempty"`
	Warnings      []string          `json:"warnings,omitempty"`
}

// Entry is a complete part result.
type Entry struct {
	Key  string
	Dir  string
	Meta *Meta
}

// Tree is the part's output, laid out as its location.
func (e *Entry) Tree() string { return filepath.Join(e.Dir, "tree") }

// LayerPath is the part's layer blob.
func (e *Entry) LayerPath() string { return filepath.Join(e.Dir, "layer.tar.gz") }

// Open opens (creating it if needed) the cache directory dir.
func Open(dir string) (*Store, error) {
	for _, d := range []string{"parts", "blobs/sha256", "logs", "tmp", "locks", "last"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("open cache: %w", err)
		}
	}
	return &Store{dir: dir}, nil
}

// Dir is the cache directory.
func (s *Store) Dir() string { return s.dir }

func validKey(key string) error {
	if len(key) != 64 || strings.Trim(key, "0123456789abcdef") != "" {
		return fmt.Errorf("bad part key %q", key)
	}
	return nil
}

// Get returns the entry for key, or nil when the cache has none.
func (s *Store) Get(key string) (*Entry, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, "parts", key)
	m, err := readMeta(filepath.Join(dir, "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cache entry %s: %w", key, err)
	}
	return &Entry{Key: key, Dir: dir, Meta: m}, nil
}

// Touch records that an entry was used now (for gc --older-than).
func (s *Store) Touch(e *Entry) {
	now := time.Now()
	_ = os.Chtimes(filepath.Join(e.Dir, "meta.json"), now, now) // best effort: only gc ordering depends on it
}

func readMeta(path string) (*Meta, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &m, nil
}

// Lock takes the lock of key, waiting for another process that holds it.
// The returned function releases it.
func (s *Store) Lock(ctx context.Context, key string) (func(), error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	return lockFile(ctx, filepath.Join(s.dir, "locks", key+".lock"))
}

// LockPath takes an exclusive file lock on path (created if needed),
// waiting for other holders; the returned function releases it.
func LockPath(ctx context.Context, path string) (func(), error) { return lockFile(ctx, path) }

func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", filepath.Base(path), err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		return func() { f.Close() }, nil
	}
	done := make(chan error, 1)
	go func() { done <- flockRetry(f) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", filepath.Base(path), err)
		}
		return func() { f.Close() }, nil
	case <-ctx.Done():
		go func() { <-done; f.Close() }()
		return nil, ctx.Err()
	}
}

func flockRetry(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

// Pending is an entry being built, invisible to readers until Commit.
type Pending struct {
	s      *Store
	key    string
	dir    string
	unlock func()
}

// Create starts a new entry for key in a private temporary directory. The
// caller should hold the key's Lock.
func (s *Store) Create(key string) (*Pending, error) { return s.create(key, true) }

// create is Create; without tree, the entry has no tree directory (its
// tree is unpacked later by EnsureTree).
func (s *Store) create(key string, tree bool) (*Pending, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, "tmp", key[:16]+"-"+hex.EncodeToString(rnd[:]))
	mk := dir
	if tree {
		mk = filepath.Join(dir, "tree")
	}
	if err := os.MkdirAll(mk, 0o755); err != nil {
		return nil, fmt.Errorf("create cache entry: %w", err)
	}
	// The lock marks the directory as in use for gc; a crash releases it.
	unlock, err := lockFile(context.Background(), filepath.Join(dir, ".lock"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Pending{s: s, key: key, dir: dir, unlock: unlock}, nil
}

// Dir is the temporary entry directory.
func (p *Pending) Dir() string { return p.dir }

// Tree is where the part's output goes.
func (p *Pending) Tree() string { return filepath.Join(p.dir, "tree") }

// LayerPath is where the layer blob goes.
func (p *Pending) LayerPath() string { return filepath.Join(p.dir, "layer.tar.gz") }

// Abort removes the temporary entry.
func (p *Pending) Abort() {
	p.unlock()
	removeTree(p.dir)
}

// Commit writes meta and moves the entry into place atomically. The layer
// is linked into blobs/sha256.
func (p *Pending) Commit(m *Meta) (*Entry, error) {
	m.Key = p.key
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeSync(filepath.Join(p.dir, "meta.json"), append(b, '\n')); err != nil {
		p.Abort()
		return nil, fmt.Errorf("write meta of %s: %w", m.Part, err)
	}
	if hexd, ok := strings.CutPrefix(m.Layer.Digest, "sha256:"); ok {
		if err := linkBlob(p.LayerPath(), filepath.Join(p.s.dir, "blobs", "sha256", hexd)); err != nil {
			p.Abort()
			return nil, err
		}
	}
	if err := syncDir(p.dir); err != nil {
		p.Abort()
		return nil, err
	}
	final := filepath.Join(p.s.dir, "parts", p.key)
	if err := os.Rename(p.dir, final); err != nil {
		if _, serr := os.Stat(filepath.Join(final, "meta.json")); serr == nil {
			// Someone else committed the same key first: theirs is as good.
			p.Abort()
			return p.s.Get(p.key)
		}
		p.Abort()
		return nil, fmt.Errorf("store %s: %w", m.Part, err)
	}
	p.unlock()
	if err := syncDir(filepath.Join(p.s.dir, "parts")); err != nil {
		return nil, err
	}
	if err := p.s.recordLast(m); err != nil {
		return nil, err
	}
	return &Entry{Key: p.key, Dir: final, Meta: m}, nil
}

// CommitAll commits many pending entries at once, each with its metadata
// (metas[i] for ps[i]), for the cost of two file-system syncs in all
// instead of several fsyncs per entry. It takes the entries' key locks
// itself, in key order, and releases them before returning; callers must
// not hold them. ents[i] is the entry of ps[i] (the one already in the
// store when another process committed the key first) and errs[i] its
// error; every Pending is consumed either way.
//
// The crash guarantee is Commit's: an entry appears in parts/ only once
// all its files (tree, layer, meta.json) are durable. Steps: write each
// meta.json and link each layer into blobs/sha256 without syncing; one
// syncfs(2) on the cache directory makes all of it durable; rename each
// entry into parts/; one more syncfs makes the renames durable. An entry
// that fails before the first sync is aborted alone; a failed first sync
// aborts the whole batch (nothing becomes visible); a failed rename aborts
// that entry alone and the others are committed; a failed last sync is
// reported for every entry renamed (they are visible and complete, but a
// crash may still take them away, leaving no trace).
func (s *Store) CommitAll(ctx context.Context, ps []*Pending, metas []*Meta) (ents []*Entry, errs []error) {
	ents, errs = make([]*Entry, len(ps)), make([]error, len(ps))
	if len(metas) != len(ps) {
		for i, p := range ps {
			p.Abort()
			errs[i] = fmt.Errorf("commit: %d entries, %d metadata", len(ps), len(metas))
		}
		return ents, errs
	}
	order := make([]int, len(ps))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return ps[order[a]].key < ps[order[b]].key })
	var unlocks []func()
	defer func() {
		for _, u := range unlocks {
			u()
		}
	}()
	var batch []int
	for j, i := range order {
		if j > 0 && ps[order[j-1]].key == ps[i].key {
			batch = append(batch, i) // locked already; its rename finds the key committed
			continue
		}
		unlock, err := s.Lock(ctx, ps[i].key)
		if err != nil {
			ps[i].Abort()
			errs[i] = err
			continue
		}
		unlocks = append(unlocks, unlock)
		batch = append(batch, i)
	}
	s.commitBatch(batch, ps, metas, ents, errs)
	return ents, errs
}

// commitBatch commits ps[i] for i in batch (in key order), holding their
// key locks, as CommitAll says.
func (s *Store) commitBatch(batch []int, ps []*Pending, metas []*Meta, ents []*Entry, errs []error) {
	step := func(name, key string) error {
		if s.failAt == nil {
			return nil
		}
		return s.failAt(name, key)
	}
	// Files are written a few at a time: each takes several metadata
	// operations, which wait for the disk's journal.
	ok := make([]bool, len(batch))
	forEach(len(batch), commitJobs, func(j int) {
		i := batch[j]
		p, m := ps[i], metas[i]
		if e, err := s.Get(p.key); err != nil || e != nil {
			// Committed by another process meanwhile.
			p.Abort()
			ents[i], errs[i] = e, err
			return
		}
		if err := p.writeMeta(m, step); err != nil {
			p.Abort()
			errs[i] = err
			return
		}
		ok[j] = true
	})
	var written []int
	for j, i := range batch {
		if ok[j] {
			written = append(written, i)
		}
	}
	if len(written) == 0 {
		return
	}
	if err := s.syncfs(step); err != nil {
		for _, i := range written {
			ps[i].Abort()
			errs[i] = fmt.Errorf("store %s: %w", metas[i].Part, err)
		}
		return
	}
	var renamed []int
	for _, i := range written {
		p, m := ps[i], metas[i]
		final := filepath.Join(s.dir, "parts", p.key)
		err := step("rename", p.key)
		if err == nil {
			err = os.Rename(p.dir, final)
		}
		if err != nil {
			p.Abort()
			if _, serr := os.Stat(filepath.Join(final, "meta.json")); serr == nil {
				// The same key earlier in this batch: that entry is as good.
				ents[i], errs[i] = s.Get(p.key)
				continue
			}
			errs[i] = fmt.Errorf("store %s: %w", m.Part, err)
			continue
		}
		p.unlock()
		// The last-build record is only for --explain: best effort, made
		// durable by the sync below like the renames.
		_ = os.Rename(filepath.Join(final, lastBuildName), lastPath(s.dir, m.Part))
		ents[i] = &Entry{Key: p.key, Dir: final, Meta: m}
		renamed = append(renamed, i)
	}
	if len(renamed) == 0 {
		return
	}
	err := step("sync-renames", "")
	if err == nil {
		err = s.syncfs(nil)
	}
	if err != nil {
		for _, i := range renamed {
			errs[i] = fmt.Errorf("store %s: %w", metas[i].Part, err)
		}
	}
}

// commitJobs bounds the entries of a batch written at once.
const commitJobs = 4

// lastBuildName is the last-build record of a pending entry of a batch,
// moved to last/ once the entry is committed.
const lastBuildName = ".last-build.json"

// writeMeta writes meta.json and the last-build record into the pending
// entry and links its layer into blobs/sha256, without syncing anything.
func (p *Pending) writeMeta(m *Meta, step func(name, key string) error) error {
	m.Key = p.key
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := step("write", p.key); err != nil {
		return fmt.Errorf("write meta of %s: %w", m.Part, err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "meta.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write meta of %s: %w", m.Part, err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, lastBuildName), b, 0o644); err != nil {
		return fmt.Errorf("record last build of %s: %w", m.Part, err)
	}
	if hexd, ok := strings.CutPrefix(m.Layer.Digest, "sha256:"); ok {
		return linkBlob(p.LayerPath(), filepath.Join(p.s.dir, "blobs", "sha256", hexd))
	}
	return nil
}

// syncfs makes everything written to the cache directory's file system
// durable.
func (s *Store) syncfs(step func(name, key string) error) error {
	if step != nil {
		if err := step("sync", ""); err != nil {
			return err
		}
	}
	f, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync cache directory: %w", err)
	}
	return nil
}

func linkBlob(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if err := os.Link(src, dst); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("link layer blob: %w", err)
	}
	return nil
}

func writeSync(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// writeAtomic writes a file through a temporary name and a rename.
func writeAtomic(path string, data []byte) error {
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	if err := writeSync(tmp, data); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func lastPath(dir, part string) string {
	return filepath.Join(dir, "last", url.PathEscape(part)+".json")
}

// recordLast remembers m as the last build of its part name, for --explain.
func (s *Store) recordLast(m *Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(lastPath(s.dir, m.Part), b); err != nil {
		return fmt.Errorf("record last build of %s: %w", m.Part, err)
	}
	return nil
}

// Last returns the metadata of the last build of a part with that name,
// or nil if there was none.
func (s *Store) Last(part string) (*Meta, error) {
	m, err := readMeta(lastPath(s.dir, part))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return m, err
}

// LogPath is where the build log of a part with key goes.
func (s *Store) LogPath(part, key string) string {
	return filepath.Join(s.dir, "logs", url.PathEscape(part)+"-"+key[:12]+".log")
}

// List returns every complete entry, sorted by part name then key.
func (s *Store) List() ([]*Entry, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "parts"))
	if err != nil {
		return nil, fmt.Errorf("list cache: %w", err)
	}
	var out []*Entry
	for _, de := range ents {
		if validKey(de.Name()) != nil {
			continue
		}
		e, err := s.Get(de.Name())
		if err != nil || e == nil {
			continue // a corrupt entry is reported by inspect and removed by prune
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Meta.Part != out[j].Meta.Part {
			return out[i].Meta.Part < out[j].Meta.Part
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// Remove deletes an entry: it is first renamed out of parts/ so that it
// disappears at once, then removed. Its layer blob goes too unless another
// entry shares it.
func (s *Store) Remove(key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	unlock, err := s.Lock(context.Background(), key)
	if err != nil {
		return err
	}
	defer unlock()
	dir := filepath.Join(s.dir, "parts", key)
	m, _ := readMeta(filepath.Join(dir, "meta.json"))
	if m != nil {
		if hexd, ok := strings.CutPrefix(m.Layer.Digest, "sha256:"); ok {
			blob := filepath.Join(s.dir, "blobs", "sha256", hexd)
			if st, err := os.Stat(filepath.Join(dir, "layer.tar.gz")); err == nil {
				if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Nlink == 2 {
					os.Remove(blob)
				}
			}
		}
	}
	tmp := filepath.Join(s.dir, "tmp", "rm-"+key[:16]+fmt.Sprintf("-%d", time.Now().UnixNano()))
	if err := os.Rename(dir, tmp); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove cache entry %s: %w", key, err)
	}
	removeTree(tmp)
	return nil
}

// removeTree removes a tree even where the build left read-only
// directories.
func removeTree(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}

// GCOptions selects what GC removes besides crash leftovers.
type GCOptions struct {
	OlderThan time.Duration // entries not used for this long; 0 = keep all entries
	DryRun    bool
}

// GCReport says what GC removed.
type GCReport struct {
	Entries []string // keys
	Temp    []string // leftover temporary directories
	Bytes   int64
}

// GC removes the leftovers of interrupted builds (temporary directories
// nobody holds) and, with OlderThan, entries unused for that long.
func (s *Store) GC(opts GCOptions) (*GCReport, error) {
	r := &GCReport{}
	tmps, err := os.ReadDir(filepath.Join(s.dir, "tmp"))
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	for _, de := range tmps {
		dir := filepath.Join(s.dir, "tmp", de.Name())
		if inUse(dir) {
			continue
		}
		r.Temp = append(r.Temp, dir)
		r.Bytes += du(dir)
		if !opts.DryRun {
			removeTree(dir)
		}
	}
	if opts.OlderThan > 0 {
		ents, err := s.List()
		if err != nil {
			return nil, err
		}
		cut := time.Now().Add(-opts.OlderThan)
		for _, e := range ents {
			st, err := os.Stat(filepath.Join(e.Dir, "meta.json"))
			if err != nil || st.ModTime().After(cut) {
				continue
			}
			r.Entries = append(r.Entries, e.Key)
			r.Bytes += du(e.Dir)
			if !opts.DryRun {
				if err := s.Remove(e.Key); err != nil {
					return r, err
				}
			}
		}
	}
	return r, nil
}

// inUse reports whether a temporary directory's lock is held by a live
// process.
func inUse(dir string) bool {
	f, err := os.Open(filepath.Join(dir, ".lock"))
	if err != nil {
		// rm-* directories and entries that never got a lock: in use only
		// if very recent (a Create between MkdirAll and lockFile).
		st, err := os.Stat(dir)
		return err == nil && time.Since(st.ModTime()) < time.Minute && !strings.HasPrefix(filepath.Base(dir), "rm-")
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	return false
}

// Prune removes entries: those of the named parts, or all of them.
func (s *Store) Prune(parts []string) (*GCReport, error) {
	want := map[string]bool{}
	for _, p := range parts {
		want[p] = true
	}
	ents, err := s.List()
	if err != nil {
		return nil, err
	}
	r := &GCReport{}
	for _, e := range ents {
		if len(want) > 0 && !want[e.Meta.Part] {
			continue
		}
		r.Entries = append(r.Entries, e.Key)
		r.Bytes += du(e.Dir)
		if err := s.Remove(e.Key); err != nil {
			return r, err
		}
	}
	return r, nil
}

// du is the disk usage of a tree in bytes.
func du(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// Size is the disk usage of an entry.
func (e *Entry) Size() int64 { return du(e.Dir) }
