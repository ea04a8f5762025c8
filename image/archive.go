package image

import (
	"context"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// writeArchive writes a docker archive (the format of docker save, read by
// docker load and podman load) atomically. Without ref the image is
// untagged in the archive.
func writeArchive(ctx context.Context, img v1.Image, file, ref string) error {
	refs := map[name.Reference]v1.Image{}
	if ref != "" {
		t, err := name.NewTag(ref)
		if err != nil {
			return err
		}
		refs[t] = img
	} else {
		d, err := img.Digest()
		if err != nil {
			return err
		}
		// Only keys the image: a digest reference writes no RepoTags.
		dr, err := name.NewDigest("hbuild@" + d.String())
		if err != nil {
			return err
		}
		refs[dr] = img
	}
	return atomicWrite(file, func(f *os.File) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return tarball.MultiRefWrite(refs, f)
	})
}

func loadArchive(file, ref string) (v1.Image, error) {
	var tag *name.Tag
	if ref != "" {
		t, err := name.NewTag(ref)
		if err != nil {
			return nil, err
		}
		tag = &t
	}
	img, err := tarball.ImageFromPath(file, tag)
	if err != nil {
		return nil, fmt.Errorf("read docker archive %s: %w", file, err)
	}
	return img, nil
}
