package engine

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hbuild/hbuild/image"
)

// assemble makes the image of an oci-image part: the base's layer, then
// the layers of the named parts and everything they depend on, in
// dependency order; then writes it to its outputs.
func (e *Engine) assemble(ctx context.Context, pl *Plan, p *Part) (*ImageResult, error) {
	e.emit(Event{Kind: EvStarted, Part: p.Name, Key: p.Key})
	e.emit(Event{Kind: EvStep, Part: p.Name, Step: "assemble"})
	img, sbomIn, err := e.image(ctx, pl, p)
	if err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	ir := &ImageResult{Part: p.Name, Digest: d.String()}
	outs := p.Build.Image.Outputs
	if len(e.opts.Outputs) > 0 {
		outs = e.opts.Outputs
	}
	for _, o := range outs {
		e.emit(Event{Kind: EvStep, Part: p.Name, Step: "write " + o})
		if _, err := image.Write(ctx, img, o); err != nil {
			return nil, fmt.Errorf("%s: write image to %s: %w", p.Name, o, err)
		}
		ir.Outputs = append(ir.Outputs, o)
		e.emit(Event{Kind: EvImage, Part: p.Name, Digest: ir.Digest, Output: o})
		e.attachSBOM(ctx, p, img, sbomIn, o)
	}
	if len(outs) == 0 {
		e.emit(Event{Kind: EvImage, Part: p.Name, Digest: ir.Digest})
	}
	e.emit(Event{Kind: EvDone, Part: p.Name, Key: p.Key})
	return ir, nil
}

// attachSBOM writes the image's SPDX SBOM to an output: an artifact
// referring to the image (OCI layout, registry) and a file beside it
// (layout, docker archive). containerd has no place for it. A failure is a
// warning: the image itself is written.
func (e *Engine) attachSBOM(ctx context.Context, p *Part, img v1.Image, in image.SBOMInput, dest string) {
	if l, err := image.ParseLocation(dest); err != nil || l.Scheme == "containerd" {
		return
	}
	e.emit(Event{Kind: EvStep, Part: p.Name, Step: "sbom " + dest})
	doc, err := image.SBOM(img, in)
	if err == nil {
		_, _, err = image.AttachSBOM(ctx, img, dest, doc)
	}
	if err != nil {
		e.emit(Event{Kind: EvWarning, Part: p.Name, Key: p.Key, Line: fmt.Sprintf("SBOM for %s: %v", dest, err)})
	}
}

// Image assembles the image of an oci-image part from built parts.
func (e *Engine) Image(ctx context.Context, pl *Plan, p *Part) (v1.Image, error) {
	img, _, err := e.image(ctx, pl, p)
	return img, err
}

// image assembles the image of an oci-image part and says what its SBOM
// describes: the parts and the base's packages.
func (e *Engine) image(ctx context.Context, pl *Plan, p *Part) (v1.Image, image.SBOMInput, error) {
	in := image.SBOMInput{Name: p.Name}
	spec := p.Build.Image
	if spec == nil {
		return nil, in, fmt.Errorf("%s is not an oci-image part", p.Name)
	}
	var base *Base
	var err error
	switch spec.Base {
	case "glibc", "":
		base, err = e.Glibc(ctx)
	case "toolchain":
		base, err = e.Toolchain(ctx)
	default:
		bp := pl.Part(spec.Base)
		if bp == nil || bp.Build.Rootfs == nil {
			return nil, in, fmt.Errorf("%s:base: %q is neither glibc, toolchain nor a debian-rootfs part", p.Name, spec.Base)
		}
		base, err = e.rootfsPart(ctx, bp)
	}
	if err != nil {
		return nil, in, err
	}
	var baseLayers []v1.Layer
	if base.Layer != "" {
		var info *image.LayerInfo
		if base.DiffID != "" {
			info = &image.LayerInfo{Digest: base.Digest, DiffID: base.DiffID, Size: base.Size, MediaType: base.Media}
		}
		bl, err := image.LayerFromFile(base.Layer, info)
		if err != nil {
			return nil, in, fmt.Errorf("%s: base layer: %w", p.Name, err)
		}
		baseLayers = append(baseLayers, bl)
	}
	closure, err := pl.Closure(spec.Parts)
	if err != nil {
		return nil, in, fmt.Errorf("%s:parts: %w", p.Name, err)
	}
	cfg := image.Config{
		Entrypoint: spec.Entrypoint, Cmd: spec.Cmd, WorkDir: spec.WorkDir, User: spec.User,
		Labels: spec.Labels, Annotations: spec.Annotations, Platform: spec.Platform,
	}
	if cfg.Platform == "" {
		cfg.Platform = pl.Platform
	}
	var layers []v1.Layer
	var bins []string
	for _, d := range closure {
		if d.Build.Image != nil || d.Build.Rootfs != nil {
			continue
		}
		ent, err := e.Store.Get(d.Key)
		if err != nil {
			return nil, in, err
		}
		if ent == nil {
			return nil, in, fmt.Errorf("%s: part %s is not built", p.Name, d.Name)
		}
		m := ent.Meta.Layer
		l, err := image.LayerFromFile(ent.LayerPath(), &image.LayerInfo{Digest: m.Digest, DiffID: m.DiffID, Size: m.Size, MediaType: m.MediaType})
		if err != nil {
			return nil, in, err
		}
		layers = append(layers, l)
		pi := image.PartInfo{Name: d.Name, Key: d.Key, Version: d.Options["version"], License: d.Options["license"]}
		for i, s := range d.Build.Sources {
			si := image.SourceInfo{URL: s.URL, Checksums: map[string]string{}}
			if s.Debian != nil {
				si.URL = "debian:" + s.Debian.Name + "/" + s.Debian.Version
			}
			for _, c := range s.Sums {
				si.Checksums[c.Algo] = c.Hex
			}
			if a, h, ok := strings.Cut(d.SourceIDs[i], ":"); ok && (a == "sha256" || a == "sha512" || a == "md5" || a == "sha1") {
				si.Checksums[a] = h
			}
			pi.Sources = append(pi.Sources, si)
		}
		cfg.Parts = append(cfg.Parts, pi)
		bins = append(bins, d.Location+"/bin")
	}
	// PATH: the parts' bin directories before the usual ones, unless env sets it.
	path := strings.Join(append(reverse(bins), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), ":")
	hasPath := false
	for _, kv := range spec.Env {
		if strings.HasPrefix(kv, "PATH=") {
			hasPath = true
		}
	}
	if !hasPath {
		cfg.Env = append(cfg.Env, "PATH="+path)
	}
	cfg.Env = append(cfg.Env, spec.Env...)
	in.Parts, in.Base = cfg.Parts, base.Packages
	img, err := image.Assemble(baseLayers, layers, cfg)
	return img, in, err
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}
