package recipes

import (
	"path"
	"strings"
)

func init() {
	register(&Recipe{
		Name:    "download",
		Version: "1",
		Aliases: []string{"slapos.recipe.build:download"},
		Summary: "download one file into the part (slapos.recipe.build:download)",
		Prepare: prepareDownload,
	})
	register(&Recipe{
		Name:    "download-unpacked",
		Version: "1",
		Aliases: []string{"slapos.recipe.build:download-unpacked", "slapos.recipe.build:downloadunpacked", "hexagonit.recipe.download"},
		Summary: "download and unpack an archive into the part (slapos.recipe.build:download-unpacked, hexagonit.recipe.download)",
		Prepare: prepareDownloadUnpacked,
	})
}

// destination reads the destination option, which must lie inside the
// part's location (only the location becomes the part's layer).
func destination(ctx *Context, opts map[string]string, def string, shared bool) (string, error) {
	d := strings.TrimSpace(opts["destination"])
	if d == "" {
		return def, nil
	}
	if shared {
		return "", optErr(ctx, "destination", "cannot be used with shared = true")
	}
	if !path.IsAbs(d) {
		d = path.Join(ctx.Location, d)
	}
	if !inside(d, ctx.Location) {
		return "", optErr(ctx, "destination", "%q is outside the part's location %s: only the location becomes the part's layer; leave destination out or put it under ${:location}", d, ctx.Location)
	}
	return path.Clean(d), nil
}

func downloadCommon(ctx *Context, in map[string]string) (map[string]string, []Checksum, bool, error) {
	if _, ok := in["mode"]; ok {
		return nil, nil, false, optErr(ctx, "mode", "option 'mode' not supported")
	}
	if err := checkLocation(ctx, in); err != nil {
		return nil, nil, false, err
	}
	shared, err := boolOpt(ctx, in, "shared", false)
	if err != nil {
		return nil, nil, false, err
	}
	opts := replaceLocation(in, ctx.Location)
	if strings.TrimSpace(opts["url"]) == "" && strings.TrimSpace(opts["repository"]) != "" {
		return opts, nil, shared, nil // a git source (download-unpacked): the commit pins it
	}
	if strings.TrimSpace(opts["url"]) == "" {
		return nil, nil, false, optErr(ctx, "url", "missing: the URL (or local path) to download")
	}
	sums, err := checksums(ctx, opts)
	if err != nil {
		return nil, nil, false, err
	}
	if shared && len(sums) == 0 {
		return nil, nil, false, optErr(ctx, "md5sum", "required with shared = true")
	}
	return opts, sums, shared, nil
}

func alternates(opts map[string]string) []string { return splitWS(opts["alternate-url"]) }

func prepareDownload(ctx *Context, in map[string]string) (*Build, error) {
	opts, sums, shared, err := downloadCommon(ctx, in)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(opts["url"]) == "" {
		return nil, optErr(ctx, "url", "missing: the URL (or local path) to download; a git repository goes in download-unpacked or gitclone")
	}
	name := baseName(strings.TrimSpace(opts["filename"]))
	if strings.TrimSpace(opts["filename"]) == "" {
		name = ctx.Part
	}
	dest, err := destination(ctx, opts, path.Join(ctx.Location, name), shared)
	if err != nil {
		return nil, err
	}
	return &Build{Sources: []Source{{Option: "url", URL: localOrURL(ctx, strings.TrimSpace(opts["url"])), Alternates: alternates(opts), Sums: sums, Dest: dest}}}, nil
}

func prepareDownloadUnpacked(ctx *Context, in map[string]string) (*Build, error) {
	opts, sums, shared, err := downloadCommon(ctx, in)
	if err != nil {
		return nil, err
	}
	only, err := boolOpt(ctx, opts, "download-only", false)
	if err != nil {
		return nil, err
	}
	if only { // hexagonit.recipe.download's download-only
		if _, ok := opts["filename"]; !ok {
			opts["filename"] = baseName(strings.TrimSpace(opts["url"]))
		}
		return prepareDownload(ctx, opts)
	}
	for _, o := range []string{"ignore-existing", "hash-name"} {
		if _, err := boolOpt(ctx, opts, o, false); err != nil {
			return nil, err
		}
	}
	dest, err := destination(ctx, opts, ctx.Location, shared)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(opts["url"]) == "" { // repository + revision
		src, err := gitSource(ctx, opts, dest, StripFalse)
		if err != nil {
			return nil, err
		}
		return &Build{Sources: []Source{*src}}, nil
	}
	src := Source{Option: "url", URL: localOrURL(ctx, strings.TrimSpace(opts["url"])), Alternates: alternates(opts), Sums: sums, Dest: dest, Unpack: true, Strip: StripAuto}
	if v := strings.TrimSpace(opts["strip-top-level-dir"]); v != "" {
		b, err := ParseBool(v, false)
		if err != nil {
			return nil, optErr(ctx, "strip-top-level-dir", "%v", err)
		}
		src.Strip = StripFalse
		if b {
			src.Strip = StripTrue
		}
	}
	return &Build{Sources: []Source{src}}, nil
}
