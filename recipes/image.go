package recipes

import (
	"strings"
)

func init() {
	register(&Recipe{
		Name:    "oci-image",
		Version: "1",
		Summary: "assemble an OCI image from a base and the layers of the named parts",
		Prepare: prepareImage,
	})
	register(&Recipe{
		Name:    "debian-rootfs",
		Version: "1",
		Summary: "a Debian base file system (toolchain or glibc) plus extra packages, from the signed archive",
		Prepare: prepareRootfs,
	})
}

// OCIAnnotationOptions are the oci-image options that fill the
// org.opencontainers.image.<option> annotations of the image's manifest
// (and, by image.Assemble, its labels).
var OCIAnnotationOptions = []string{"title", "description", "version", "revision", "source", "url", "documentation", "licenses", "vendor", "authors"}

// keyValues reads lines of KEY=VALUE (or KEY VALUE).
func keyValues(ctx *Context, option, v string) (map[string]string, error) {
	out := map[string]string{}
	for _, l := range lines(v) {
		k, val, ok := strings.Cut(l, "=")
		if !ok {
			k, val, ok = strings.Cut(l, " ")
		}
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		if !ok || k == "" {
			return nil, optErr(ctx, option, "line %q: write KEY=VALUE", l)
		}
		if _, dup := out[k]; dup {
			return nil, optErr(ctx, option, "key %q is repeated", k)
		}
		out[k] = val
	}
	return out, nil
}

func prepareImage(ctx *Context, opts map[string]string) (*Build, error) {
	img := &Image{
		Parts:    splitWS(opts["parts"]),
		Base:     strings.TrimSpace(opts["base"]),
		WorkDir:  strings.TrimSpace(opts["workdir"]),
		User:     strings.TrimSpace(opts["user"]),
		Platform: strings.TrimSpace(opts["platform"]),
		Outputs:  splitWS(opts["output"]),
	}
	if len(img.Parts) == 0 {
		return nil, optErr(ctx, "parts", "missing: the parts whose layers make the image")
	}
	for _, p := range img.Parts {
		if p == ctx.Part {
			return nil, optErr(ctx, "parts", "an image cannot contain itself")
		}
	}
	deps := append([]string(nil), img.Parts...)
	switch img.Base {
	case "":
		img.Base = "glibc"
	case "glibc", "toolchain":
	default:
		deps = append(deps, img.Base) // a debian-rootfs part
	}
	var err error
	if img.Entrypoint, err = SplitWords(opts["entrypoint"]); err != nil {
		return nil, optErr(ctx, "entrypoint", "%v", err)
	}
	if img.Cmd, err = SplitWords(opts["cmd"]); err != nil {
		return nil, optErr(ctx, "cmd", "%v", err)
	}
	env, err := keyValues(ctx, "env", opts["env"])
	if err != nil {
		return nil, err
	}
	img.Env = envList(env)
	if img.Labels, err = keyValues(ctx, "labels", opts["labels"]); err != nil {
		return nil, err
	}
	if img.Annotations, err = keyValues(ctx, "annotations", opts["annotations"]); err != nil {
		return nil, err
	}
	// The OCI pre-defined annotations, from options of the same name where
	// the section gives them (an explicit annotations line wins); the title
	// defaults to the section's name.
	for _, o := range OCIAnnotationOptions {
		key := "org.opencontainers.image." + o
		if _, set := img.Annotations[key]; set {
			continue
		}
		v := strings.Join(lines(opts[o]), " ")
		if v == "" && o == "title" {
			v = ctx.Part
		}
		if v != "" {
			img.Annotations[key] = v
		}
	}
	if img.WorkDir != "" && !strings.HasPrefix(img.WorkDir, "/") {
		return nil, optErr(ctx, "workdir", "%q must be an absolute path", img.WorkDir)
	}
	return &Build{Image: img, Deps: deps}, nil
}

func prepareRootfs(ctx *Context, opts map[string]string) (*Build, error) {
	r := &Rootfs{Base: strings.TrimSpace(opts["base"]), Packages: splitWS(opts["packages"]), Suite: strings.TrimSpace(opts["suite"])}
	switch r.Base {
	case "":
		r.Base = "glibc"
	case "glibc", "toolchain":
	default:
		return nil, optErr(ctx, "base", "%q is not a base: write glibc or toolchain", r.Base)
	}
	return &Build{Rootfs: r}, nil
}
