package image

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// CopyResult says what Copy did.
type CopyResult struct {
	Digest string // manifest digest of the copied image
	SBOM   string // digest of the SBOM artifact copied along ("" = none)
}

// Copy copies the image at src to dest (both as ParseLocation reads them).
// An SBOM attached to the image in a source OCI layout goes along when the
// destination has a place for it (an OCI layout or a registry).
func Copy(ctx context.Context, src, dest string) (*CopyResult, error) {
	if _, err := ParseLocation(dest); err != nil {
		return nil, err
	}
	img, err := Load(ctx, src)
	if err != nil {
		return nil, err
	}
	d, err := Write(ctx, img, dest)
	if err != nil {
		return nil, err
	}
	res := &CopyResult{Digest: d}
	sl, _ := ParseLocation(src)
	dl, _ := ParseLocation(dest)
	if sl.Scheme != "oci-layout" || (dl.Scheme != "oci-layout" && dl.Scheme != "docker") {
		return res, nil
	}
	sbom, err := layoutSBOM(sl.Path, d)
	if err != nil {
		return nil, fmt.Errorf("copy SBOM of %s: %w", src, err)
	}
	if sbom != nil {
		if res.SBOM, _, err = AttachSBOM(ctx, img, dest, sbom); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// layoutSBOM returns the SPDX document attached to the image with manifest
// digest subject in the layout dir, or nil.
func layoutSBOM(dir, subject string) ([]byte, error) {
	l := &ociLayout{dir: dir}
	idx, err := l.readIndex()
	if err != nil {
		return nil, err
	}
	blob := func(h v1.Hash) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, "blobs", h.Algorithm, h.Hex))
	}
	for _, desc := range idx.Manifests {
		if desc.ArtifactType != MediaTypeSPDX {
			continue
		}
		raw, err := blob(desc.Digest)
		if err != nil {
			return nil, err
		}
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		if m.Subject == nil || m.Subject.Digest.String() != subject || len(m.Layers) != 1 || m.Layers[0].MediaType != MediaTypeSPDX {
			continue
		}
		return blob(m.Layers[0].Digest)
	}
	return nil, nil
}
