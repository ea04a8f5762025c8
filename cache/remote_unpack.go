package cache

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hbuild/hbuild/image"
)

// fetchInto downloads an entry's layer into the pending entry in one pass:
// the compressed stream goes to the layer file and, decompressed, straight
// into the tree, with the layer's entries moved from under the part's
// location to the tree's root on the way (the layer may hold nothing else
// but the parent directories of the location). With DeferTrees the
// stream is checked the same way but no tree is written. The compressed
// stream must match the layer's digest and size, the uncompressed one the
// metadata's diff ID. Nothing is synced: the store's commit makes the
// entry durable before it is renamed into place. On error the caller
// aborts the pending entry (the tree of a blob that turned out bad is
// never committed).
func (r *Remote) fetchInto(ctx context.Context, e *RemoteEntry, m *Meta, p *Pending) error {
	d := e.Layer
	if d.Digest.Algorithm != "sha256" {
		return fmt.Errorf("fetch layer: blob %s: only sha256 digests are accepted", d.Digest)
	}
	prefix, err := layerPrefix(m.Location)
	if err != nil {
		return err
	}
	diffID, err := v1.NewHash(m.Layer.DiffID)
	if err != nil {
		return fmt.Errorf("fetch layer: diff ID: %w", err)
	}
	rc, err := r.blob(ctx, d)
	if err != nil {
		return fmt.Errorf("fetch layer: %w", err)
	}
	defer rc.Close()
	f, err := os.Create(p.LayerPath())
	if err != nil {
		return fmt.Errorf("fetch layer: %w", err)
	}
	defer f.Close() // after a failure only; the file is closed and checked below
	bw := bufio.NewWriterSize(f, 256<<10)
	h := sha256.New()
	src := &readErr{r: io.LimitReader(rc, d.Size)}
	body := &countWriter{w: io.MultiWriter(bw, h)}
	stream := io.TeeReader(src, body)

	sl := &strippedLayer{src: stream, mediaType: d.MediaType, digest: d.Digest, diffID: diffID, size: d.Size, prefix: prefix, h: sha256.New()}
	tree := p.Tree()
	if r.opts.DeferTrees {
		tree = ""
	}
	var xerr error
	if tree == "" {
		// Deferred: the blob is checked against its digest and size here,
		// as registry clients do when they pull (skopeo, containerd's
		// content store); its content (the diff ID, and that every entry
		// is under the part's location) is checked when the tree is
		// unpacked (Store.EnsureTree), as containerd checks diff IDs when
		// it unpacks. Decompressing here was most of a cached pull's time.
		// The digest is the manifest's, which a signature covers.
		sl.done = true
	} else {
		xerr = sl.unpack(tree)
	}
	// Read what the extraction left of the blob (the compression's
	// trailer, or all of it after an error), so that a bad blob is reported
	// as such rather than as whatever it broke.
	if _, err := io.Copy(io.Discard, stream); err != nil {
		if src.err == nil {
			return fmt.Errorf("fetch layer: write %s: %w", p.LayerPath(), err)
		}
		if unreachable(err) || ctx.Err() != nil {
			return r.note(fmt.Errorf("fetch layer: read blob %s: %w", d.Digest, err))
		}
		// ggcr checks the digest too, as the stream ends.
		return fmt.Errorf("fetch layer: blob %s does not match its digest or size: %w", d.Digest, err)
	}
	if body.n != d.Size {
		return fmt.Errorf("fetch layer: blob %s has %d bytes, the manifest says %d", d.Digest, body.n, d.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.Digest.Hex {
		return fmt.Errorf("fetch layer: blob %s does not match its digest (got sha256:%s)", d.Digest, got)
	}
	if n, _ := io.ReadFull(rc, make([]byte, 1)); n != 0 {
		return fmt.Errorf("fetch layer: blob %s is longer than the manifest says (%d bytes)", d.Digest, d.Size)
	}
	if xerr != nil {
		if src.err != nil && (unreachable(src.err) || ctx.Err() != nil) {
			return r.note(fmt.Errorf("fetch layer: read blob %s: %w", d.Digest, src.err))
		}
		return fmt.Errorf("unpack layer %s: %w", d.Digest, xerr)
	}
	if got := "sha256:" + hex.EncodeToString(sl.h.Sum(nil)); tree != "" && (!sl.done || got != m.Layer.DiffID) {
		return fmt.Errorf("layer %s: uncompressed content %s does not match diff ID %s", d.Digest, got, m.Layer.DiffID)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("fetch layer: write %s: %w", p.LayerPath(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fetch layer: write %s: %w", p.LayerPath(), err)
	}
	return nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// unpack extracts the layer into dir, or with dir "" only reads it through
// (names checked, diff ID hashed).
func (l *strippedLayer) unpack(dir string) error {
	if dir != "" {
		return image.Extract(oneLayer{Image: empty.Image, l: l}, dir)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return err
}

// oneLayer is an image of one layer, to Extract it.
type oneLayer struct {
	v1.Image
	l v1.Layer
}

func (o oneLayer) Layers() ([]v1.Layer, error) { return []v1.Layer{o.l}, nil }

// strippedLayer is a part's layer, being downloaded, seen from its
// location: Uncompressed gives the tar stream with the location's prefix
// taken off every name, and hashes the original stream, to its end, as it
// is read. It can be read once.
type strippedLayer struct {
	src            io.Reader // the compressed stream
	mediaType      types.MediaType
	digest, diffID v1.Hash
	size           int64
	prefix         string
	h              hash.Hash
	done           bool // the whole original stream was hashed
}

func (l *strippedLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *strippedLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *strippedLayer) Size() (int64, error)                { return l.size, nil }
func (l *strippedLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

func (l *strippedLayer) Compressed() (io.ReadCloser, error) {
	return nil, errors.New("a layer being unpacked has no compressed stream to give")
}

func (l *strippedLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := decompress(l.src, l.mediaType)
	if err != nil {
		return nil, err
	}
	rc = &boundedReader{ReadCloser: rc, left: maxExpanded(l.size), limit: maxExpanded(l.size), size: l.size}
	pr, pw := io.Pipe()
	sr := &strippedReader{pr: pr, rc: rc, l: l, rewrote: make(chan struct{})}
	go func() {
		defer close(sr.rewrote)
		pw.CloseWithError(stripTar(io.TeeReader(rc, l.h), pw, l.prefix))
	}()
	return sr, nil
}

// maxExpanded bounds what a layer of compressed size n may decompress to:
// 1 GiB plus 100 times n, far above what software compresses to (text and
// binaries: 3 to 10 times). A hostile layer (a decompression bomb) is
// refused before it fills the disk; its diff ID would fail only at its end.
var maxExpanded = func(n int64) int64 { return 1<<30 + 100*n }

// boundedReader fails once more than limit bytes were read.
type boundedReader struct {
	io.ReadCloser
	left, limit, size int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("layer of %d bytes expands beyond %d bytes: refused as a decompression bomb", b.size, b.limit)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// decompress reads a gzip or zstd stream. Small layers are the common
// case: a plain single-goroutine decoder beats a read-ahead one.
func decompress(r io.Reader, mt types.MediaType) (io.ReadCloser, error) {
	switch mt {
	case image.MediaTypeZstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	default:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		zr.Multistream(false)
		return zr, nil
	}
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
