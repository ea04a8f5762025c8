package recipes

import (
	"sort"
	"strings"
)

func init() {
	register(&Recipe{
		Name:    "build",
		Version: "1",
		Aliases: []string{"shell", "slapos.recipe.build", "slapos.recipe.build:default"},
		Summary: "run the shell script in option 'script' in the sandbox, with the part's options in its environment",
		Prepare: prepareShell,
	})
}

// EnvName turns an option name into an environment variable name:
// every character other than a letter, digit or _ becomes _.
func EnvName(option string) string {
	b := []byte(option)
	for i, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		return "_" + string(b)
	}
	return string(b)
}

func prepareShell(ctx *Context, in map[string]string) (*Build, error) {
	for _, o := range []string{"init", "install", "update"} {
		if strings.TrimSpace(in[o]) != "" {
			return nil, optErr(ctx, o, "inline Python (slapos.recipe.build's %q) cannot run in hbuild's sandbox; write a shell script in option 'script' instead", o)
		}
	}
	if err := checkLocation(ctx, in); err != nil {
		return nil, err
	}
	opts := replaceLocation(in, ctx.Location)
	opts["location"] = ctx.Location
	script := strings.TrimSpace(opts["script"])
	if script == "" {
		return nil, optErr(ctx, "script", "missing: the shell script that installs the part into $location")
	}
	b := &Build{Steps: []Step{{Name: "script", Script: script}}, WorkDir: BuildDir}
	src, err := sourceOption(ctx, opts, SourceDir, false)
	if err != nil {
		return nil, err
	}
	if src != nil {
		b.Sources = append(b.Sources, *src)
		b.WorkDir = ""
	}
	env := map[string]string{}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "script" || strings.HasPrefix(k, "_") {
			continue
		}
		env[EnvName(k)] = opts[k]
	}
	if e := strings.TrimSpace(opts["environment"]); e != "" {
		x, err := parseEnvironment(ctx, "environment", e)
		if err != nil {
			return nil, err
		}
		for k, v := range x {
			env[k] = v
		}
	}
	b.Env = envList(env)
	b.Promises = lines(opts["promises"])
	return b, nil
}
