package engine

import (
	"fmt"
	"sort"
	"strings"
)

// Explain says why a part is or is not cached: it compares the plan with
// the last build recorded for a part of that name.
func (e *Engine) Explain(pl *Plan, name string) ([]string, error) {
	p := pl.Part(name)
	if p == nil {
		_, err := pl.Closure([]string{name})
		return nil, err
	}
	if p.Build.Image != nil {
		return []string{fmt.Sprintf("%s is an image: it is assembled from its parts on every build", name)}, nil
	}
	if ent, _ := e.Store.Get(p.Key); ent != nil {
		return []string{fmt.Sprintf("%s is cached (key %s, built %s)", name, short(p.Key), ent.Meta.Built.Format("2006-01-02 15:04:05 UTC"))}, nil
	}
	last, err := e.Store.Last(name)
	if err != nil {
		return nil, err
	}
	if last == nil {
		return []string{fmt.Sprintf("%s was never built with this cache", name)}, nil
	}
	var why []string
	add := func(format string, args ...any) { why = append(why, fmt.Sprintf(format, args...)) }
	if last.Format != "" && last.Format != pl.keyInput(p).Format {
		add("layer format changed: %s -> %s", last.Format, pl.keyInput(p).Format)
	}
	if last.Recipe != p.Recipe.Name || last.RecipeVersion != p.Recipe.Version {
		add("recipe changed: %s %s -> %s %s", last.Recipe, last.RecipeVersion, p.Recipe.Name, p.Recipe.Version)
	}
	for _, k := range unionKeys(last.Options, p.Options) {
		o, had := last.Options[k]
		n, has := p.Options[k]
		switch {
		case !had:
			add("option %s added: %s", k, clip(n))
		case !has:
			add("option %s removed (was %s)", k, clip(o))
		case o != n:
			add("option %s changed: %s -> %s", k, clip(o), clip(n))
		}
	}
	var oldSrc, newSrc []string
	for _, s := range last.Sources {
		oldSrc = append(oldSrc, s.Dest+" "+s.SHA256)
	}
	for i, s := range p.Build.Sources {
		newSrc = append(newSrc, s.Dest+" "+p.SourceIDs[i])
	}
	if strings.Join(oldSrc, "\n") != strings.Join(newSrc, "\n") {
		for i, s := range newSrc {
			if i >= len(oldSrc) || oldSrc[i] != s {
				add("source changed: %s", s)
			}
		}
		if len(oldSrc) > len(newSrc) {
			add("%d source(s) removed", len(oldSrc)-len(newSrc))
		}
	}
	deps := map[string]string{}
	for _, d := range p.Deps {
		deps[d] = pl.Part(d).Key
	}
	for _, k := range unionKeys(last.Deps, deps) {
		o, had := last.Deps[k]
		n, has := deps[k]
		switch {
		case !had:
			add("dependency %s added", k)
		case !has:
			add("dependency %s removed", k)
		case o != n:
			add("dependency %s changed (key %s -> %s)", k, short(o), short(n))
		}
	}
	if last.Base != pl.BaseDigest {
		add("build base changed: %s -> %s", short(last.Base), short(pl.BaseDigest))
	}
	if last.Platform != pl.Platform {
		add("platform changed: %s -> %s", last.Platform, pl.Platform)
	}
	if len(why) == 0 {
		add("the build steps changed (same options: a new hbuild or recipe version)")
	}
	return why, nil
}

func unionKeys(a, b map[string]string) []string {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func clip(s string) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if len(s) > 80 {
		return fmt.Sprintf("%q...", s[:77])
	}
	return fmt.Sprintf("%q", s)
}

func short(k string) string {
	k = strings.TrimPrefix(k, "sha256:")
	if len(k) > 12 {
		return k[:12]
	}
	return k
}
