package image

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fileLayer is a compressed layer blob on disk whose digests are known.
type fileLayer struct {
	path           string
	digest, diffID v1.Hash
	size           int64
	mediaType      types.MediaType
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return l.mediaType, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return decompress(l.path, l.mediaType) }

// LayerFromFile returns the layer stored in the compressed blob at path.
// With info (as WriteLayerFile returned it) nothing is read until the layer
// is used; with nil info the blob is read once to compute its digests and
// its compression is sniffed.
func LayerFromFile(path string, info *LayerInfo) (v1.Layer, error) {
	if info == nil {
		var err error
		if info, err = inspectBlob(path); err != nil {
			return nil, err
		}
	}
	d, err := v1.NewHash(info.Digest)
	if err != nil {
		return nil, fmt.Errorf("layer %s: digest: %w", path, err)
	}
	di, err := v1.NewHash(info.DiffID)
	if err != nil {
		return nil, fmt.Errorf("layer %s: diff ID: %w", path, err)
	}
	mt := info.MediaType
	if mt == "" {
		mt = MediaTypeGzip
	}
	l := &fileLayer{path: path, digest: d, diffID: di, size: info.Size, mediaType: types.MediaType(mt)}
	return partial.CompressedToLayer(l)
}

// inspectBlob computes the LayerInfo of a compressed layer file.
func inspectBlob(path string) (*LayerInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read layer: %w", err)
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil {
		return nil, fmt.Errorf("read layer %s: %w", path, err)
	}
	var mt string
	switch {
	case magic[0] == 0x1f && magic[1] == 0x8b:
		mt = MediaTypeGzip
	case magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		mt = MediaTypeZstd
	default:
		return nil, fmt.Errorf("read layer %s: neither gzip nor zstd", path)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read layer %s: %w", path, err)
	}
	digest, count := sha256.New(), &countWriter{}
	rc, err := decompressReader(io.TeeReader(f, io.MultiWriter(digest, count)), types.MediaType(mt))
	if err != nil {
		return nil, fmt.Errorf("read layer %s: %w", path, err)
	}
	diffID := sha256.New()
	_, err = io.Copy(diffID, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("read layer %s: %w", path, err)
	}
	// Trailing bytes after the compressed stream still belong to the blob.
	if _, err := io.Copy(io.MultiWriter(digest, count), f); err != nil {
		return nil, fmt.Errorf("read layer %s: %w", path, err)
	}
	return &LayerInfo{Digest: hashString(digest), DiffID: hashString(diffID), Size: count.n, MediaType: mt}, nil
}

func decompress(path string, mt types.MediaType) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	rc, err := decompressReader(f, mt)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read layer %s: %w", path, err)
	}
	return &closeBoth{ReadCloser: rc, f: f}, nil
}

type closeBoth struct {
	io.ReadCloser
	f *os.File
}

func (c *closeBoth) Close() error {
	err := c.ReadCloser.Close()
	if ferr := c.f.Close(); err == nil {
		err = ferr
	}
	return err
}

func decompressReader(r io.Reader, mt types.MediaType) (io.ReadCloser, error) {
	switch mt {
	case MediaTypeZstd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	default:
		zr, err := pgzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		zr.Multistream(false)
		return zr, nil
	}
}
