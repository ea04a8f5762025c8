package cache

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// EnsureTree unpacks the tree of an entry that was pulled without it
// (RemoteOptions.DeferTrees) from the entry's layer; for an entry that has
// its tree it does nothing. The tree is unpacked in a temporary directory,
// made durable, then renamed into the entry, under the key's lock: readers
// see the whole tree or none, and concurrent callers unpack it once. The
// caller must not hold the key's lock.
func (s *Store) EnsureTree(ctx context.Context, e *Entry) error {
	if _, err := os.Lstat(e.Tree()); err == nil {
		return nil
	}
	unlock, err := s.Lock(ctx, e.Key)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Lstat(e.Tree()); err == nil {
		return nil // another caller unpacked it meanwhile
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unpack tree of %s: %w", e.Meta.Part, err)
	}
	p, err := s.create(e.Key, true)
	if err != nil {
		return err
	}
	defer p.Abort() // the temporary directory, empty once the tree moved
	if err := unpackLayerFile(e, p.Tree()); err != nil {
		return fmt.Errorf("unpack tree of %s: %w", e.Meta.Part, err)
	}
	if err := s.syncfs(nil); err != nil {
		return fmt.Errorf("unpack tree of %s: %w", e.Meta.Part, err)
	}
	if err := os.Rename(p.Tree(), e.Tree()); err != nil {
		return fmt.Errorf("unpack tree of %s: %w", e.Meta.Part, err)
	}
	if err := syncDir(e.Dir); err != nil {
		return fmt.Errorf("unpack tree of %s: %w", e.Meta.Part, err)
	}
	return nil
}

// unpackLayerFile unpacks an entry's layer file into dir as a pull does,
// checking it against the diff ID.
func unpackLayerFile(e *Entry, dir string) error {
	m := e.Meta
	prefix, err := layerPrefix(m.Location)
	if err != nil {
		return err
	}
	digest, err := v1.NewHash(m.Layer.Digest)
	if err != nil {
		return fmt.Errorf("layer digest: %w", err)
	}
	diffID, err := v1.NewHash(m.Layer.DiffID)
	if err != nil {
		return fmt.Errorf("layer diff ID: %w", err)
	}
	f, err := os.Open(e.LayerPath())
	if err != nil {
		return err
	}
	defer f.Close()
	mt := types.MediaType(m.Layer.MediaType)
	sl := &strippedLayer{src: bufio.NewReaderSize(f, 256<<10), mediaType: mt, digest: digest, diffID: diffID, size: m.Layer.Size, prefix: prefix, h: sha256.New()}
	if err := sl.unpack(dir); err != nil {
		return fmt.Errorf("unpack layer %s: %w", m.Layer.Digest, err)
	}
	if got := "sha256:" + hex.EncodeToString(sl.h.Sum(nil)); !sl.done || got != m.Layer.DiffID {
		return fmt.Errorf("layer %s: uncompressed content %s does not match diff ID %s", m.Layer.Digest, got, m.Layer.DiffID)
	}
	return nil
}
