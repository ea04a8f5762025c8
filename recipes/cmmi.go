package recipes

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// Sandbox paths where the engine puts a cmmi part's inputs.
const (
	BuildDir   = "/build"
	SourceDir  = "/build/src"
	PatchesDir = "/build/.hbuild/patches"
	EnvScript  = "slapos.recipe.build.env.sh"
)

func init() {
	register(&Recipe{
		Name:    "cmmi",
		Version: "1",
		Aliases: []string{"slapos.recipe.cmmi", "hexagonit.recipe.cmmi", "zc.recipe.cmmi"},
		Summary: "configure, make, make install an archive (slapos.recipe.cmmi)",
		Prepare: prepareCMMI,
	})
}

var hookReplacement = map[string]string{
	"pre-configure-hook": "pre-configure",
	"pre-make-hook":      "pre-build",
	"post-make-hook":     "post-install",
}

// sourceOption reads url / path / debian-source with the checksums into a
// Source unpacked at dest.
func sourceOption(ctx *Context, opts map[string]string, dest string, required bool) (*Source, error) {
	url, p, deb, repo := strings.TrimSpace(opts["url"]), strings.TrimSpace(opts["path"]), strings.TrimSpace(opts["debian-source"]), strings.TrimSpace(opts["repository"])
	n := 0
	for _, v := range []string{url, p, deb, repo} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return nil, optErr(ctx, "", `you must use either "url", "path", "debian-source" or "repository", not several`)
	}
	if n == 0 {
		if !required {
			return nil, nil
		}
		return nil, optErr(ctx, "", `you must provide either "url", "path", "debian-source" or "repository" (with "revision")`)
	}
	sums, err := checksums(ctx, opts)
	if err != nil {
		return nil, err
	}
	// cmmi does not strip by default; its steps enter a single top
	// directory instead (the engine's working directory rule).
	strip := StripFalse
	if v := strings.TrimSpace(opts["strip-top-level-dir"]); v != "" {
		b, err := ParseBool(v, false)
		if err != nil {
			return nil, optErr(ctx, "strip-top-level-dir", "%v", err)
		}
		strip = StripFalse
		if b {
			strip = StripTrue
		}
	}
	if repo != "" { // the commit pins it: checksums do not apply
		return gitSource(ctx, opts, dest, strip)
	}
	s := &Source{Dest: dest, Unpack: true, Strip: strip, Sums: sums}
	switch {
	case url != "":
		s.Option, s.URL = "url", localOrURL(ctx, url)
	case p != "":
		s.Option, s.URL = "path", localOrURL(ctx, p)
		if !strings.HasPrefix(s.URL, "/") {
			return nil, optErr(ctx, "path", "%q must be a local directory", p)
		}
	default:
		f := strings.Fields(deb)
		if len(f) != 2 {
			return nil, optErr(ctx, "debian-source", "%q: write NAME VERSION, e.g. zlib 1:1.2.13.dfsg-1", deb)
		}
		s.Option, s.Debian = "debian-source", &DebianSource{Name: f[0], Version: f[1]}
	}
	return s, nil
}

func prepareCMMI(ctx *Context, in map[string]string) (*Build, error) {
	for _, h := range []string{"pre-configure-hook", "pre-make-hook", "post-make-hook"} {
		if strings.TrimSpace(in[h]) != "" {
			return nil, optErr(ctx, h, "Python hooks (%q) cannot run in hbuild's sandbox; write the hook as a shell snippet in %q instead", strings.TrimSpace(in[h]), hookReplacement[h])
		}
	}
	for _, o := range []string{"dependencies", "share"} {
		if _, ok := in[o]; ok {
			return nil, optErr(ctx, o, "option %q was removed from slapos.recipe.cmmi and is not supported; reference the dependency with ${part:location} instead", o)
		}
	}
	if err := checkLocation(ctx, in); err != nil {
		return nil, err
	}
	shared, err := boolOpt(ctx, in, "shared", false)
	if err != nil {
		return nil, err
	}
	opts := replaceLocation(in, ctx.Location)
	opts["location"] = ctx.Location
	prefix := strings.TrimSpace(opts["prefix"])
	if prefix == "" {
		prefix = ctx.Location
	}
	if shared && !inside(prefix, ctx.Location) {
		return nil, optErr(ctx, "prefix", "when shared=true, 'prefix' can't be outside location (%s)", ctx.Location)
	}
	opts["prefix"] = prefix

	b := &Build{FixShebangs: true}
	src, err := sourceOption(ctx, opts, SourceDir, true)
	if err != nil {
		return nil, err
	}
	b.Sources = append(b.Sources, *src)
	opts["compile-directory"] = SourceDir // a local path is copied there: the sandbox never builds in place
	if b.KeepCompileDir, err = boolOpt(ctx, opts, "keep-compile-dir", false); err != nil {
		return nil, err
	}

	// Environment: environment-section first, environment overrides it.
	env := map[string]string{}
	if sec := strings.TrimSpace(opts["environment-section"]); sec != "" {
		if strings.Contains(sec, "=") {
			return nil, optErr(ctx, "environment-section", "names a section; inline KEY=VALUE lines go in 'environment'")
		}
		e, err := parseEnvironment(ctx, "environment-section", sec)
		if err != nil {
			return nil, err
		}
		for k, v := range e {
			env[k] = v
		}
	}
	e, err := parseEnvironment(ctx, "environment", opts["environment"])
	if err != nil {
		return nil, err
	}
	for k, v := range e {
		env[k] = v
	}
	b.Env = envList(env)

	configure, mk, install, err := CMMICommands(ctx, opts)
	if err != nil {
		return nil, err
	}

	// Patches, fetched like sources and applied in order.
	patchBin := strings.TrimSpace(opts["patch-binary"])
	if patchBin == "" {
		patchBin = "patch"
	}
	patchOpts := "-p0"
	if _, ok := opts["patch-options"]; ok {
		patchOpts = strings.Join(splitWS(opts["patch-options"]), " ")
	}
	var patchScript strings.Builder
	for i, p := range splitWS(opts["patches"]) {
		file, sums, err := splitHash(ctx, "patches", p)
		if err != nil {
			return nil, err
		}
		dest := path.Join(PatchesDir, fmt.Sprintf("%02d-%s", i, baseName(file)))
		b.Sources = append(b.Sources, Source{Option: "patches", URL: localOrURL(ctx, file), Sums: sums, Dest: dest})
		fmt.Fprintf(&patchScript, "%s %s < %s\n", patchBin, patchOpts, dest)
	}

	step := func(name, script string) {
		if strings.TrimSpace(script) != "" {
			b.Steps = append(b.Steps, Step{Name: name, Script: script})
		}
	}
	snippet := func(name string) (string, error) {
		s, err := PyFormat(strings.TrimSpace(opts[name]), opts)
		if err != nil {
			return "", optErr(ctx, name, "%v", err)
		}
		return s, nil
	}
	step("patch", patchScript.String())
	for _, s := range []struct{ name, cmd string }{
		{"pre-configure", ""}, {"configure", configure},
		{"pre-build", ""}, {"make", mk},
		{"pre-install", ""}, {"install", install},
		{"post-install", ""},
	} {
		script := s.cmd
		if strings.HasPrefix(s.name, "p") {
			if script, err = snippet(s.name); err != nil {
				return nil, err
			}
		}
		step(s.name, script)
	}

	b.Files = append(b.Files, File{Path: path.Join(BuildDir, EnvScript), Content: envScript(env, configure, mk, install), Mode: 0o644})
	b.Promises = lines(opts["promises"])
	return b, nil
}

// CMMICommands builds the configure, make and install command lines exactly
// as slapos.recipe.cmmi does (opts already have @@LOCATION@@ replaced and
// prefix set).
func CMMICommands(ctx *Context, opts map[string]string) (configure, mk, install string, err error) {
	prefix := opts["prefix"]
	makeBin := "make"
	if v, ok := opts["make-binary"]; ok {
		makeBin = strings.TrimSpace(v)
	}
	mopts := strings.Join(splitWS(opts["make-options"]), " ")
	targets := strings.Join(splitWS(opts["make-targets"]), " ")
	if targets == "" {
		targets = "install"
	}
	copts := splitWS(opts["configure-options"])
	conf := strings.TrimSpace(opts["configure-command"])
	if conf == "" {
		conf = "./configure"
		if !strings.Contains(strings.Join(copts, " "), "--prefix") {
			copts = append([]string{`--prefix="` + prefix + `"`}, copts...)
		}
	} else if makeBin == "make" && targets == "install" {
		targets += ` prefix="` + prefix + `"`
	}
	format := func(option, s string) (string, error) {
		x, err := PyFormat(s, opts)
		if err != nil {
			return "", optErr(ctx, option, "%v", err)
		}
		return x, nil
	}
	if configure, err = format("configure-options", conf+" "+strings.Join(copts, " ")); err != nil {
		return
	}
	if mk, err = format("make-options", makeBin+" "+mopts); err != nil {
		return
	}
	install, err = format("make-targets", makeBin+" "+mopts+" "+targets)
	return
}

func envScript(env map[string]string, configure, mk, install string) []byte {
	var b strings.Builder
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := ""
		if k == "TEMP" || k == "TMP" || k == "TMPDIR" {
			c = "#"
		}
		fmt.Fprintf(&b, "%sexport %s=%s\n", c, k, ShellQuote(env[k]))
	}
	fmt.Fprintf(&b, "echo %s\necho %s\necho %s\n", ShellQuote("configure with: "+configure), ShellQuote("make with: "+mk), ShellQuote("install with: "+install))
	return []byte(b.String())
}
