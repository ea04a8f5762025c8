package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	godigest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// annotationContainerdName is the index annotation containerd's importer
// takes as the full image name.
const annotationContainerdName = "io.containerd.image.name"

// containerdName is the image name used when the location gives none.
func containerdName(l *Location, d v1.Hash) string {
	if l.Ref != "" {
		return l.Ref
	}
	return "hbuild@" + d.String()
}

// dialContainerd connects to the containerd socket of l, failing at once
// when there is no socket.
func dialContainerd(l *Location) (*containerd.Client, error) {
	if fi, err := os.Stat(l.Path); err != nil || fi.Mode().Type() != os.ModeSocket {
		return nil, fmt.Errorf("connect to containerd: %s is not a socket (is containerd running? its socket is usually /run/containerd/containerd.sock)", l.Path)
	}
	c, err := containerd.New(l.Path, containerd.WithDefaultNamespace(l.Namespace))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", l.Path, err)
	}
	return c, nil
}

// importContainerd streams img as an OCI archive into containerd's import
// API. containerd stores every blob and then creates (or updates) the image
// record, so a failed import leaves no image.
func importContainerd(ctx context.Context, img v1.Image, l *Location) error {
	d, err := img.Digest()
	if err != nil {
		return err
	}
	c, err := dialContainerd(l)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx = namespaces.WithNamespace(ctx, l.Namespace)

	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeOCIArchive(pw, img, containerdName(l, d))) }()
	imgs, err := c.Import(ctx, pr, containerd.WithAllPlatforms(true))
	pr.CloseWithError(io.ErrClosedPipe) // stop the writer if the import gave up early
	if err != nil {
		return fmt.Errorf("import into containerd: %w", err)
	}
	if len(imgs) != 1 || imgs[0].Target.Digest.String() != d.String() {
		return fmt.Errorf("import into containerd: got %d images, want %s", len(imgs), d)
	}
	return nil
}

// writeOCIArchive writes img as a tar of an OCI layout whose index names it.
func writeOCIArchive(w io.Writer, img v1.Image, name string) error {
	tw := tar.NewWriter(w)
	add := func(path string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path, Size: size, Mode: 0o644, ModTime: DefaultEpoch}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	addBytes := func(path string, b []byte) error { return add(path, int64(len(b)), bytes.NewReader(b)) }

	lay, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := addBytes(ocispec.ImageLayoutFile, lay); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, layer := range layers {
		d, err := layer.Digest()
		if err != nil {
			return err
		}
		size, err := layer.Size()
		if err != nil {
			return err
		}
		rc, err := layer.Compressed()
		if err != nil {
			return err
		}
		err = add("blobs/sha256/"+d.Hex, size, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	if err := addBytes("blobs/sha256/"+cfgName.Hex, cfg); err != nil {
		return err
	}
	m, err := img.RawManifest()
	if err != nil {
		return err
	}
	desc, err := partial.Descriptor(img)
	if err != nil {
		return err
	}
	if err := addBytes("blobs/sha256/"+desc.Digest.Hex, m); err != nil {
		return err
	}
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{
			MediaType:   string(desc.MediaType),
			Digest:      godigest.Digest(desc.Digest.String()),
			Size:        desc.Size,
			Annotations: map[string]string{annotationContainerdName: name, ocispec.AnnotationRefName: name},
		}},
	}
	ib, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := addBytes("index.json", ib); err != nil {
		return err
	}
	return tw.Close()
}

// loadContainerd returns the image named l.Ref in containerd. Blobs are
// read from containerd's content store when used, over a new connection
// each time, so the image outlives this call.
func loadContainerd(ctx context.Context, l *Location) (v1.Image, error) {
	if l.Ref == "" {
		return nil, fmt.Errorf("name the image: containerd://%s?name=REF", l.Path)
	}
	ctx = namespaces.WithNamespace(ctx, l.Namespace)
	c, err := dialContainerd(l)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	rec, err := c.ImageService().Get(ctx, l.Ref)
	if err != nil {
		return nil, err
	}
	cs := c.ContentStore()
	target := rec.Target
	raw, err := content.ReadBlob(ctx, cs, target)
	if err != nil {
		return nil, err
	}
	if types.MediaType(target.MediaType).IsIndex() {
		var idx ocispec.Index
		if err := json.Unmarshal(raw, &idx); err != nil {
			return nil, err
		}
		var found *ocispec.Descriptor
		for i, m := range idx.Manifests {
			if m.Platform == nil || (m.Platform.OS == "linux" && m.Platform.Architecture == "amd64") {
				found = &idx.Manifests[i]
				break
			}
		}
		if found == nil {
			return nil, fmt.Errorf("image %s has no linux/amd64 manifest", l.Ref)
		}
		target = *found
		if raw, err = content.ReadBlob(ctx, cs, target); err != nil {
			return nil, err
		}
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	cfg, err := content.ReadBlob(ctx, cs, toOCIDescriptor(m.Config))
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&ctrImage{loc: *l, raw: raw, manifest: m, config: cfg, mediaType: types.MediaType(target.MediaType)})
}

func toOCIDescriptor(d v1.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: string(d.MediaType), Digest: godigest.Digest(d.Digest.String()), Size: d.Size}
}

// ctrImage is an image in containerd's content store.
type ctrImage struct {
	loc       Location
	raw       []byte
	manifest  *v1.Manifest
	config    []byte
	mediaType types.MediaType
}

func (i *ctrImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *ctrImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }
func (i *ctrImage) RawConfigFile() ([]byte, error)      { return i.config, nil }

func (i *ctrImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, d := range i.manifest.Layers {
		if d.Digest == h {
			return &ctrBlob{loc: i.loc, desc: d}, nil
		}
	}
	return nil, fmt.Errorf("image has no layer %s", h)
}

type ctrBlob struct {
	loc  Location
	desc v1.Descriptor
}

func (b *ctrBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *ctrBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *ctrBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }

func (b *ctrBlob) Compressed() (io.ReadCloser, error) {
	c, err := dialContainerd(&b.loc)
	if err != nil {
		return nil, err
	}
	ctx := namespaces.WithNamespace(context.Background(), b.loc.Namespace)
	ra, err := c.ContentStore().ReaderAt(ctx, toOCIDescriptor(b.desc))
	if err != nil {
		c.Close()
		return nil, err
	}
	return &ctrReader{Reader: content.NewReader(ra), ra: ra, c: c}, nil
}

type ctrReader struct {
	io.Reader
	ra content.ReaderAt
	c  *containerd.Client
}

func (r *ctrReader) Close() error {
	err := r.ra.Close()
	if cerr := r.c.Close(); err == nil {
		err = cerr
	}
	return err
}
