package recipes

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

func init() {
	register(&Recipe{
		Name:    "template",
		Version: "1",
		Aliases: []string{"slapos.recipe.template", "slapos.recipe.template:default", "collective.recipe.template"},
		Summary: "render a file from an inline or file template with ${section:option} substitution",
		Prepare: prepareTemplate,
	})
}

func prepareTemplate(ctx *Context, in map[string]string) (*Build, error) {
	if err := checkLocation(ctx, in); err != nil {
		return nil, err
	}
	opts := replaceLocation(in, ctx.Location)
	opts["location"] = ctx.Location
	var text string
	inline, hasInline := opts["inline"]
	if !hasInline {
		inline, hasInline = opts["input"], strings.HasPrefix(strings.TrimSpace(opts["input"]), "inline:")
		inline = strings.TrimPrefix(strings.TrimSpace(inline), "inline:")
	}
	url := strings.TrimSpace(opts["url"])
	if url == "" && !hasInline {
		url = strings.TrimSpace(opts["input"])
	}
	switch {
	case hasInline && url != "":
		return nil, optErr(ctx, "", `use either "inline" or "url", not both`)
	case hasInline:
		// buildout already substituted ${...} in the option value.
		text = strings.TrimLeft(inline, "\n")
		if !strings.HasSuffix(text, "\n") && text != "" {
			text += "\n"
		}
	case url != "":
		sums, err := checksums(ctx, opts)
		if err != nil {
			return nil, err
		}
		if ctx.Read == nil {
			return nil, optErr(ctx, "url", "cannot read templates here")
		}
		data, err := ctx.Read(localOrURL(ctx, url), sums)
		if err != nil {
			return nil, optErr(ctx, "url", "read template: %v", err)
		}
		if text, err = Substitute(string(data), ctx.Part, func(sec, opt string) (string, error) {
			if sec == ctx.Part {
				if v, ok := opts[opt]; ok {
					return v, nil
				}
			}
			if ctx.Section == nil {
				return "", fmt.Errorf("no sections")
			}
			m, err := ctx.Section(sec)
			if err != nil {
				return "", err
			}
			v, ok := m[opt]
			if !ok {
				return "", fmt.Errorf("section [%s] has no option %q", sec, opt)
			}
			return v, nil
		}); err != nil {
			return nil, optErr(ctx, "url", "render template %s: %v", url, err)
		}
	default:
		return nil, optErr(ctx, "", `you must provide "inline" or "url"`)
	}
	out := strings.TrimSpace(opts["output"])
	if out == "" {
		return nil, optErr(ctx, "output", "missing: the file to write (inside ${:location})")
	}
	if !path.IsAbs(out) {
		out = path.Join(ctx.Location, out)
	}
	if !inside(out, ctx.Location) || path.Clean(out) == path.Clean(ctx.Location) {
		return nil, optErr(ctx, "output", "%q is not inside the part's location %s: only the location becomes the part's layer", out, ctx.Location)
	}
	mode := uint64(0o644)
	if m := strings.TrimSpace(opts["mode"]); m != "" {
		var err error
		if mode, err = strconv.ParseUint(m, 8, 32); err != nil || mode > 0o7777 {
			return nil, optErr(ctx, "mode", "%q is not an octal file mode such as 0755", m)
		}
	}
	return &Build{Files: []File{{Path: path.Clean(out), Content: []byte(text), Mode: uint32(mode)}}}, nil
}

// Substitute replaces ${section:option} (and ${:option} for the section
// self) in a template; $${ is a literal ${.
func Substitute(s, self string, get func(section, option string) (string, error)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i] + "{")
			s = s[i+2:]
			continue
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s[i:])
		}
		ref := s[i+2 : i+j]
		sec, opt, ok := strings.Cut(ref, ":")
		if !ok || opt == "" || strings.ContainsAny(ref, " \t\n") {
			return "", fmt.Errorf("bad reference ${%s}: write ${section:option}", ref)
		}
		if sec == "" {
			sec = self
		}
		v, err := get(sec, opt)
		if err != nil {
			return "", fmt.Errorf("${%s}: %w", ref, err)
		}
		b.WriteString(s[:i] + v)
		s = s[i+j+1:]
	}
}
