package cache

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"

	"github.com/hbuild/hbuild/image"
)

// unpackTree extracts a pending entry's layer straight into the entry's
// tree: the layer's entries are moved from under the part's location to the
// tree's root on the way, and the layer may hold nothing else (only the
// parent directories of the location). The uncompressed stream must match
// the metadata's diff ID.
func unpackTree(p *Pending, m *Meta) error {
	prefix, err := layerPrefix(m.Location)
	if err != nil {
		return err
	}
	info := &image.LayerInfo{Digest: m.Layer.Digest, DiffID: m.Layer.DiffID, Size: m.Layer.Size, MediaType: m.Layer.MediaType}
	l, err := image.LayerFromFile(p.LayerPath(), info)
	if err != nil {
		return err
	}
	sl := &strippedLayer{Layer: l, prefix: prefix, h: sha256.New()}
	if err := image.Extract(oneLayer{Image: empty.Image, l: sl}, p.Tree()); err != nil {
		return fmt.Errorf("unpack layer %s: %w", m.Layer.Digest, err)
	}
	if got := "sha256:" + hex.EncodeToString(sl.h.Sum(nil)); !sl.done || got != m.Layer.DiffID {
		return fmt.Errorf("layer %s: uncompressed content %s does not match diff ID %s", m.Layer.Digest, got, m.Layer.DiffID)
	}
	return nil
}

// oneLayer is an image of one layer, to Extract it.
type oneLayer struct {
	v1.Image
	l v1.Layer
}

func (o oneLayer) Layers() ([]v1.Layer, error) { return []v1.Layer{o.l}, nil }

// strippedLayer is a part's layer seen from its location: Uncompressed
// gives the tar stream with the location's prefix taken off every name,
// and hashes the original stream, to its end, as it is read.
type strippedLayer struct {
	v1.Layer
	prefix string
	h      hash.Hash
	done   bool // the whole original stream was hashed
}

func (l *strippedLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Uncompressed()
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	sr := &strippedReader{pr: pr, rc: rc, l: l, rewrote: make(chan struct{})}
	go func() {
		defer close(sr.rewrote)
		pw.CloseWithError(stripTar(io.TeeReader(rc, l.h), pw, l.prefix))
	}()
	return sr, nil
}

type strippedReader struct {
	pr      *io.PipeReader
	rc      io.ReadCloser
	l       *strippedLayer
	rewrote chan struct{}
}

func (r *strippedReader) Read(p []byte) (int, error) { return r.pr.Read(p) }

// Close stops the rewriting and hashes what the tar reader left of the
// original stream (the end-of-archive blocks).
func (r *strippedReader) Close() error {
	r.pr.Close()
	<-r.rewrote
	_, err := io.Copy(r.l.h, r.rc)
	if cerr := r.rc.Close(); err == nil {
		err = cerr
	}
	r.l.done = err == nil
	return err
}

// stripTar copies the tar stream r to w with prefix taken off every name
// and hard link target. The directories above prefix and prefix itself are
// dropped; any other entry outside prefix is an error.
func stripTar(r io.Reader, w io.Writer, prefix string) error {
	parents := map[string]bool{}
	for d := path.Dir(prefix); d != "."; d = path.Dir(d) {
		parents[d] = true
	}
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + hdr.Name)[1:]
		if (parents[name] || name == prefix) && hdr.Typeflag == tar.TypeDir {
			continue
		}
		rel, ok := strings.CutPrefix(name, prefix+"/")
		if !ok {
			return fmt.Errorf("the layer holds %s, outside the part's location /%s", hdr.Name, prefix)
		}
		if hdr.Typeflag == tar.TypeDir {
			rel += "/"
		}
		hdr.Name = rel
		if hdr.Typeflag == tar.TypeLink {
			target, ok := strings.CutPrefix(path.Clean("/" + hdr.Linkname)[1:], prefix+"/")
			if !ok {
				return fmt.Errorf("the layer links %s to %s, outside the part's location /%s", hdr.Name, hdr.Linkname, prefix)
			}
			hdr.Linkname = target
		}
		delete(hdr.PAXRecords, "path")
		delete(hdr.PAXRecords, "linkpath")
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	return tw.Close()
}
