package rootfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/hbuild/hbuild/image"
)

// FromImage returns a base made from an OCI image: its layers applied in
// order with whiteouts honoured, unpacked safely, cached by the image's
// manifest digest (recorded in Base.Image). ref is one of
//
//	oci-layout:DIR[:TAG|@sha256:...]
//	docker-archive:FILE[:REF]
//	docker://REF or REF (a registry)
func FromImage(ctx context.Context, ref string, opts Options) (*Base, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	img, err := loadImage(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("load base image %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("load base image %s: %w", ref, err)
	}
	sum := sha256.Sum256([]byte(FormatVersion + "\n" + image.FormatVersion + "\n" + opts.compression() + "\n" + d.String()))
	key := "image-" + hex.EncodeToString(sum[:])
	b, err := cached(ctx, opts, key, func(tmp string) (*Base, error) {
		tree := filepath.Join(tmp, "tree")
		if err := os.Mkdir(tree, 0o755); err != nil {
			return nil, err
		}
		opts.event("unpack image %s (%s)", ref, d)
		rc := mutate.Extract(img)
		err := newTree(tree).untar(rc, ref, 0)
		if err == nil {
			// mutate.Extract writes the tar trailer before it reports a
			// failure (an unsafe path, a bad layer): read to the end for it.
			_, err = io.Copy(io.Discard, rc)
		}
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("unpack base image %s: %w", ref, err)
		}
		return &Base{Image: d.String()}, nil
	})
	if err != nil {
		return nil, err
	}
	b.Name = ref
	return b, nil
}

// loadImage opens an image: OCI layouts here (to allow @DIGEST), the other
// schemes through package image.
func loadImage(ctx context.Context, ref string) (v1.Image, error) {
	if spec, ok := strings.CutPrefix(ref, "oci-layout:"); ok {
		return loadLayout(spec)
	}
	return image.Load(ctx, ref)
}

func loadLayout(spec string) (v1.Image, error) {
	dir, sel := spec, ""
	if i := strings.LastIndex(spec, "@"); i >= 0 {
		dir, sel = spec[:i], spec[i:]
	} else if i := strings.LastIndex(spec, ":"); i >= 0 {
		if _, err := os.Stat(spec); err != nil {
			dir, sel = spec[:i], spec[i+1:]
		}
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var match []v1.Descriptor
	for _, desc := range m.Manifests {
		switch {
		case strings.HasPrefix(sel, "@"):
			if desc.Digest.String() == sel[1:] {
				match = append(match, desc)
			}
		case sel != "":
			if desc.Annotations["org.opencontainers.image.ref.name"] == sel {
				match = append(match, desc)
			}
		default:
			match = append(match, desc)
		}
	}
	if len(match) != 1 {
		if sel == "" {
			return nil, fmt.Errorf("%s holds %d images: name one with :TAG or @DIGEST", dir, len(m.Manifests))
		}
		return nil, fmt.Errorf("%s has no image %s", dir, sel)
	}
	return idx.Image(match[0].Digest)
}
