package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// ociLayout is an OCI image layout directory being written. Blobs and
// index.json are written through temporary files and renamed, and the
// directory is locked (flock) while index.json is read and rewritten, so
// concurrent writers and crashes never leave a half-written layout.
type ociLayout struct {
	dir  string
	lock *os.File
}

func openLayout(dir string) (*ociLayout, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	l := &ociLayout{dir: dir, lock: f}
	marker := filepath.Join(dir, ocispec.ImageLayoutFile)
	if _, err := os.Stat(marker); errors.Is(err, os.ErrNotExist) {
		b, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
		if err := atomicWriteBytes(marker, b); err != nil {
			l.close()
			return nil, err
		}
	}
	return l, nil
}

func (l *ociLayout) close() { l.lock.Close() } // closing drops the flock

func atomicWriteBytes(dst string, b []byte) error {
	return atomicWrite(dst, func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
}

// writeBlob stores a blob unless a complete copy is there, checking its
// digest and size while copying.
func (l *ociLayout) writeBlob(h v1.Hash, size int64, open func() (io.ReadCloser, error)) error {
	if h.Algorithm != "sha256" {
		return fmt.Errorf("blob %s: only sha256 digests are supported", h)
	}
	dst := filepath.Join(l.dir, "blobs", "sha256", h.Hex)
	if fi, err := os.Stat(dst); err == nil && fi.Size() == size {
		return nil
	}
	rc, err := open()
	if err != nil {
		return fmt.Errorf("read blob %s: %w", h, err)
	}
	defer rc.Close()
	return atomicWrite(dst, func(f *os.File) error {
		sum := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, sum), rc)
		if err != nil {
			return fmt.Errorf("write blob %s: %w", h, err)
		}
		if got := hashString(sum); got != h.String() || n != size {
			return fmt.Errorf("write blob %s: got %s (%d bytes, want %d)", h, got, n, size)
		}
		return nil
	})
}

func (l *ociLayout) writeBytes(b []byte) (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return h, err
	}
	return h, l.writeBlob(h, int64(len(b)), func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

func (l *ociLayout) writeImage(ctx context.Context, img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, layer := range layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, err := layer.Digest()
		if err != nil {
			return err
		}
		size, err := layer.Size()
		if err != nil {
			return err
		}
		if err := l.writeBlob(d, size, layer.Compressed); err != nil {
			return err
		}
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if _, err := l.writeBytes(cfg); err != nil {
		return err
	}
	m, err := img.RawManifest()
	if err != nil {
		return err
	}
	_, err = l.writeBytes(m)
	return err
}

func (l *ociLayout) readIndex() (*v1.IndexManifest, error) {
	b, err := os.ReadFile(filepath.Join(l.dir, "index.json"))
	if errors.Is(err, os.ErrNotExist) {
		return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}, nil
	}
	if err != nil {
		return nil, err
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(l.dir, "index.json"), err)
	}
	return &idx, nil
}

// addDescriptor adds desc to index.json. When tag is set, entries with the
// same tag are replaced; an identical untagged entry is never duplicated.
func (l *ociLayout) addDescriptor(desc v1.Descriptor, tag string) error {
	idx, err := l.readIndex()
	if err != nil {
		return err
	}
	if tag != "" {
		if desc.Annotations == nil {
			desc.Annotations = map[string]string{}
		}
		desc.Annotations[ocispec.AnnotationRefName] = tag
	}
	kept := idx.Manifests[:0]
	for _, d := range idx.Manifests {
		old := d.Annotations[ocispec.AnnotationRefName]
		if tag != "" && old == tag {
			continue
		}
		if tag == "" && old == "" && d.Digest == desc.Digest {
			continue
		}
		kept = append(kept, d)
	}
	idx.Manifests = append(kept, desc)
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return atomicWriteBytes(filepath.Join(l.dir, "index.json"), b)
}

func writeLayout(ctx context.Context, img v1.Image, dir, tag string) error {
	l, err := openLayout(dir)
	if err != nil {
		return err
	}
	defer l.close()
	if err := l.writeImage(ctx, img); err != nil {
		return err
	}
	desc, err := partial.Descriptor(img)
	if err != nil {
		return err
	}
	desc.Annotations = nil
	desc.ArtifactType = "" // ggcr fills in the config media type; images have none
	if cf, err := img.ConfigFile(); err == nil && cf.OS != "" {
		desc.Platform = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	}
	return l.addDescriptor(*desc, tag)
}

func loadLayout(dir, tag string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var found []v1.Descriptor
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() && !d.MediaType.IsIndex() {
			continue
		}
		if tag != "" && d.Annotations[ocispec.AnnotationRefName] != tag {
			continue
		}
		if tag == "" && d.ArtifactType != "" && !types.MediaType(d.ArtifactType).IsConfig() {
			continue
		}
		found = append(found, d)
	}
	switch {
	case len(found) == 0 && tag != "":
		return nil, fmt.Errorf("no image tagged %q in %s", tag, dir)
	case len(found) == 0:
		return nil, fmt.Errorf("no image in %s", dir)
	case len(found) > 1 && tag != "":
		return nil, fmt.Errorf("%d images tagged %q in %s", len(found), tag, dir)
	case len(found) > 1:
		return nil, fmt.Errorf("%d images in %s: name one with oci-layout:%s:TAG", len(found), dir, dir)
	}
	if found[0].MediaType.IsIndex() {
		return imageOfIndex(idx, found[0].Digest)
	}
	return idx.Image(found[0].Digest)
}

// imageOfIndex returns the linux/amd64 image of a nested image index (as
// skopeo copy --all writes), or its only image.
func imageOfIndex(parent v1.ImageIndex, h v1.Hash) (v1.Image, error) {
	ii, err := parent.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	var imgs []v1.Descriptor
	for _, d := range im.Manifests {
		if d.MediaType.IsImage() {
			imgs = append(imgs, d)
		}
	}
	for _, d := range imgs {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == "amd64" {
			return ii.Image(d.Digest)
		}
	}
	if len(imgs) == 1 {
		return ii.Image(imgs[0].Digest)
	}
	return nil, fmt.Errorf("image index %s has no linux/amd64 image", h)
}
