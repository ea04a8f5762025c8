package recipes

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/hbuild/hbuild/recipes/pydist"
)

// The zc.recipe.egg family. hbuild's build base has no Python at all, so
// every egg part names the part that builds its interpreter (option
// python), and distributions come only from find-links (local directories,
// or http(s) pages listing files, subject to allow-hosts), each matching its
// pin in [versions]. Resolution happens while planning, in Go: the chosen
// files, with their sha256, are the part's sources and key.

const (
	eggDistDir  = "/build/.hbuild/dists"
	eggRecordTo = "/build/.hbuild/installed.txt"
)

var sitePackagesNotes = map[string]string{
	"include-site-packages":           "holds by construction: hbuild's build base has no Python, so no site-packages of a system Python can leak in, and the scripts hbuild writes take the Python part's own site-packages (pip, setuptools) off sys.path",
	"allowed-eggs-from-site-packages": "holds by construction: hbuild's build base has no Python, so no egg can come from a system site-packages",
	"exec-sitecustomize":              "holds by construction: there is no system Python whose sitecustomize could run",
	"newest":                          "ignored: versions come from [versions]; hbuild never looks for newer ones",
	"index":                           "ignored: hbuild takes distributions from find-links only (list an index's project pages there)",
	"relative-paths":                  "ignored: hbuild's paths are fixed (${buildout:directory} is the same on every machine), so scripts use absolute paths",
	"unzip":                           "ignored: wheels are always unpacked and sdists installed as directories",
}

// BuildoutIgnored are the [buildout] options of the egg family that hbuild
// accepts and does not need, with the note annotate shows for them.
var BuildoutIgnored = map[string]string{
	"include-site-packages":           sitePackagesNotes["include-site-packages"],
	"allowed-eggs-from-site-packages": sitePackagesNotes["allowed-eggs-from-site-packages"],
	"exec-sitecustomize":              sitePackagesNotes["exec-sitecustomize"],
	"index":                           sitePackagesNotes["index"],
	"unzip":                           sitePackagesNotes["unzip"],
}

func init() {
	register(&Recipe{
		Name:    "egg-custom",
		Version: "1",
		Aliases: []string{"zc.recipe.egg:custom"},
		Summary: "build one Python distribution with C extensions against parts (include-dirs, library-dirs, rpath, define) into the part's location (zc.recipe.egg:custom)",
		Prepare: prepareEggCustom,
		Ignored: sitePackagesNotes,
	})
	register(&Recipe{
		Name:    "egg-scripts",
		Version: "2",
		Aliases: []string{"zc.recipe.egg", "zc.recipe.egg:scripts", "zc.recipe.egg:eggs", "z3c.recipe.scripts", "z3c.recipe.scripts:scripts", "z3c.recipe.scripts:interpreter"},
		Summary: "install pinned Python distributions from find-links and generate their console scripts and an interpreter (zc.recipe.egg, z3c.recipe.scripts)",
		Prepare: prepareEggScripts,
		Ignored: sitePackagesNotes,
	})
}

// pythonPart is the interpreter an egg part uses.
type pythonPart struct {
	Section    string
	Executable string // absolute, inside the sandbox and the image
	Target     pydist.Target
}

// EggPython reads option python (default: [buildout] python) and the
// section it names: executable (default location/bin/pythonVERSION) and
// version (default: from the executable's name).
func EggPython(ctx *Context, opts map[string]string) (*pythonPart, error) {
	name := strings.TrimSpace(opts["python"])
	opt := "python"
	if name == "" && ctx.Section != nil {
		if bo, err := ctx.Section("buildout"); err == nil {
			name = strings.TrimSpace(bo["python"])
			opt = "python (from [buildout] python)"
		}
	}
	if name == "" || name == "buildout" {
		return nil, optErr(ctx, "python", "name the part that builds Python (python = PART): hbuild's build base has no Python, so eggs are built and run with a Python the profile builds")
	}
	if ctx.Section == nil {
		return nil, optErr(ctx, opt, "cannot read section %q", name)
	}
	sec, err := ctx.Section(name)
	if err != nil {
		return nil, optErr(ctx, opt, "read the Python part %q: %v", name, err)
	}
	if strings.TrimSpace(sec["recipe"]) == "" {
		return nil, optErr(ctx, opt, "section %q has no recipe: python must name the part that builds Python", name)
	}
	loc := strings.TrimSpace(sec["location"])
	exe := strings.TrimSpace(sec["executable"])
	ver := strings.TrimSpace(sec["version"])
	if ver == "" && exe != "" {
		if b := path.Base(exe); strings.HasPrefix(b, "python") && strings.Contains(b, ".") {
			ver = strings.TrimPrefix(b, "python")
		}
	}
	if ver == "" {
		return nil, optErr(ctx, opt, "part %q does not say which Python it builds: set version = 3.X (or executable = ${:location}/bin/python3.X) in it", name)
	}
	if exe == "" {
		if loc == "" {
			return nil, optErr(ctx, opt, "part %q has no location", name)
		}
		exe = path.Join(loc, "bin", "python"+majorMinor(ver))
	}
	if !path.IsAbs(exe) {
		return nil, optErr(ctx, opt, "executable %q of part %q is not an absolute path", exe, name)
	}
	return &pythonPart{Section: name, Executable: exe, Target: pydist.Target{PythonVersion: ver, Machine: "x86_64"}}, nil
}

func majorMinor(v string) string {
	p := strings.SplitN(v, ".", 3)
	if len(p) >= 2 {
		return p[0] + "." + p[1]
	}
	return v
}

// eggSettings are the [buildout] options the egg recipes follow.
type eggSettings struct {
	findLinks    []string
	versions     map[string]string // normalized name -> pin
	allowPicked  bool
	versionsName string
}

func readEggSettings(ctx *Context, opts map[string]string) (*eggSettings, error) {
	s := &eggSettings{versions: map[string]string{}, allowPicked: true, versionsName: "versions"}
	bo := map[string]string{}
	if ctx.Section != nil {
		if b, err := ctx.Section("buildout"); err == nil {
			bo = b
		}
	}
	fl := bo["find-links"]
	if v, ok := opts["find-links"]; ok {
		fl = v
	}
	for _, f := range splitWS(fl) {
		if !strings.Contains(f, "://") && !filepath.IsAbs(f) {
			f = filepath.Join(ctx.BaseDir, f)
		}
		s.findLinks = append(s.findLinks, f)
	}
	b, err := ParseBool(bo["allow-picked-versions"], true)
	if err != nil {
		return nil, optErr(ctx, "", "[buildout] allow-picked-versions: %v", err)
	}
	s.allowPicked = b
	if v := strings.TrimSpace(bo["versions"]); v != "" {
		s.versionsName = v
	}
	if ctx.Section != nil {
		if vs, err := ctx.Section(s.versionsName); err == nil {
			for k, v := range vs {
				if strings.HasPrefix(k, "_") || strings.TrimSpace(v) == "" {
					continue
				}
				s.versions[pydist.Normalize(k)] = strings.TrimSpace(v)
			}
		}
	}
	return s, nil
}

// candidates lists the distribution files of every find-links entry.
func candidates(ctx *Context, findLinks []string) ([]pydist.Link, error) {
	var out []pydist.Link
	for _, fl := range findLinks {
		if strings.HasPrefix(fl, "http://") || strings.HasPrefix(fl, "https://") {
			if ctx.Fetch == nil {
				return nil, fmt.Errorf("find-links %s: cannot fetch while planning", fl)
			}
			base, err := url.Parse(fl)
			if err != nil {
				return nil, fmt.Errorf("find-links %s: %w", fl, err)
			}
			if f, ok := pydist.ParseFilename(path.Base(base.Path)); ok {
				out = append(out, pydist.Link{URL: fl, File: f})
				continue
			}
			p, _, err := ctx.Fetch(fl, false)
			if err != nil {
				return nil, fmt.Errorf("find-links %s: %w", fl, err)
			}
			page, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			out = append(out, pydist.ParseLinks(page, base)...)
			continue
		}
		dir := strings.TrimPrefix(fl, "file://")
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("find-links %s: %w", fl, err)
		}
		if !st.IsDir() {
			if f, ok := pydist.ParseFilename(filepath.Base(dir)); ok {
				out = append(out, pydist.Link{URL: dir, File: f})
			}
			continue
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("find-links %s: %w", fl, err)
		}
		for _, e := range ents {
			f, ok := pydist.ParseFilename(e.Name())
			if !ok {
				continue
			}
			// A symbolic link to a distribution counts, as in buildout.
			if st, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && st.Mode().IsRegular() {
				out = append(out, pydist.Link{URL: filepath.Join(dir, e.Name()), File: f})
			}
		}
	}
	return out, nil
}

// pick chooses the file of project among links, by its pin.
func pick(ctx *Context, set *eggSettings, links []pydist.Link, project string, t pydist.Target, sdistOnly bool) (*pydist.Link, string, error) {
	var files []pydist.File
	for _, l := range links {
		if sdistOnly && l.File.Kind != "sdist" {
			continue
		}
		files = append(files, l.File)
	}
	pin := set.versions[pydist.Normalize(project)]
	f, picked, err := pydist.Select(files, project, pin, t)
	if err != nil {
		where := strings.Join(set.findLinks, " ")
		if where == "" {
			where = "(none: set find-links in [buildout] or in the part)"
		}
		return nil, "", fmt.Errorf("%w; find-links: %s", err, where)
	}
	if picked {
		if !set.allowPicked {
			return nil, "", fmt.Errorf("%s is not pinned and [buildout] allow-picked-versions is false: add %s = %s to [%s]", project, project, f.Version, set.versionsName)
		}
		if ctx.Warn != nil {
			ctx.Warn(fmt.Sprintf("picked %s = %s: pin it in [%s]", project, f.Version, set.versionsName))
		}
	}
	for i := range links {
		if links[i].File.Name == f.Name && pydist.Normalize(links[i].File.Project) == pydist.Normalize(f.Project) &&
			(!sdistOnly || links[i].File.Kind == "sdist") {
			return &links[i], f.Version, nil
		}
	}
	return nil, "", fmt.Errorf("%s: chosen file %s vanished", project, f.Name) // unreachable: Select returns one of files
}

// fetchDist gets a distribution into the download cache while planning and
// returns the source that puts it in the sandbox, and its path.
func fetchDist(ctx *Context, option string, l *pydist.Link, dest string, unpack bool) (Source, string, error) {
	u := l.URL
	for _, a := range []string{"sha256", "sha512", "md5", "sha1"} {
		if h := l.Sums[a]; h != "" {
			u += "#" + a + "=" + h
			break
		}
	}
	if ctx.Fetch == nil {
		return Source{}, "", fmt.Errorf("%s: cannot fetch while planning", l.URL)
	}
	p, sha, err := ctx.Fetch(u, true)
	if err != nil {
		return Source{}, "", err
	}
	s := Source{Option: option, URL: l.URL, Sums: []Checksum{{Algo: "sha256", Hex: sha}}, Dest: dest, Unpack: unpack, Strip: StripFalse}
	return s, p, nil
}

// buildExtOptions maps zc.recipe.egg:custom options to setup.py build_ext
// options (written to setup.cfg, as buildout does).
var buildExtOptions = []struct{ option, key, sep string }{
	{"include-dirs", "include_dirs", ":"},
	{"library-dirs", "library_dirs", ":"},
	{"rpath", "rpath", ":"},
	{"define", "define", ","},
	{"undef", "undef", ","},
	{"libraries", "libraries", " "},
	{"link-objects", "link_objects", " "},
}

// eggOptions checks the location, replaces @@LOCATION@@ and reads the
// Python part: what every egg recipe starts with.
func eggOptions(ctx *Context, in map[string]string) (map[string]string, *pythonPart, error) {
	if err := checkLocation(ctx, in); err != nil {
		return nil, nil, err
	}
	opts := replaceLocation(in, ctx.Location)
	py, err := EggPython(ctx, opts)
	return opts, py, err
}

func prepareEggCustom(ctx *Context, in map[string]string) (*Build, error) {
	opts, py, err := eggOptions(ctx, in)
	if err != nil {
		return nil, err
	}
	eggReq := strings.TrimSpace(opts["egg"])
	if eggReq == "" {
		eggReq = ctx.Part
	}
	req, err := pydist.ParseRequirement(eggReq)
	if err != nil {
		return nil, optErr(ctx, "egg", "%v", err)
	}
	b := &Build{Deps: []string{py.Section}}
	src, err := sourceOption(ctx, opts, SourceDir, false)
	if err != nil {
		return nil, err
	}
	if src != nil {
		b.Sources = append(b.Sources, *src)
	} else {
		set, err := readEggSettings(ctx, opts)
		if err != nil {
			return nil, err
		}
		if req.Specifier != "" && strings.HasPrefix(req.Specifier, "==") && set.versions[pydist.Normalize(req.Name)] == "" {
			set.versions[pydist.Normalize(req.Name)] = strings.TrimPrefix(req.Specifier, "==")
		}
		links, err := candidates(ctx, set.findLinks)
		if err != nil {
			return nil, optErr(ctx, "find-links", "%v", err)
		}
		l, v, err := pick(ctx, set, links, req.Name, py.Target, true)
		if err != nil {
			return nil, optErr(ctx, "egg", "%v", err)
		}
		if ok, err := req.Contains(v); err != nil || !ok {
			return nil, optErr(ctx, "egg", "%s asks for %s %s, but the version found is %s", eggReq, req.Name, req.Specifier, v)
		}
		s, _, err := fetchDist(ctx, "egg", l, SourceDir, true)
		if err != nil {
			return nil, optErr(ctx, "egg", "%v", err)
		}
		b.Sources = append(b.Sources, s)
	}

	env := map[string]string{}
	if v := strings.TrimSpace(opts["environment"]); v != "" {
		if env, err = parseEnvironment(ctx, "environment", v); err != nil {
			return nil, err
		}
	}
	b.Env = envList(env)

	var cfg strings.Builder
	for _, o := range buildExtOptions {
		vals := splitWS(opts[o.option])
		if o.sep == ":" {
			var parts []string
			for _, v := range vals {
				parts = append(parts, strings.Split(v, ":")...)
			}
			vals = parts
		}
		if o.sep == "," {
			var parts []string
			for _, v := range vals {
				for _, p := range strings.Split(v, ",") {
					if p = strings.TrimSpace(p); p != "" {
						parts = append(parts, p)
					}
				}
			}
			vals = parts
		}
		if len(vals) > 0 {
			fmt.Fprintf(&cfg, "%s = %s\n", o.key, strings.Join(vals, o.sep))
		}
	}
	if d, err := boolOpt(ctx, opts, "debug", false); err != nil {
		return nil, err
	} else if d {
		cfg.WriteString("debug = 1\n")
	}
	pyq := ShellQuote(py.Executable)
	loc := ShellQuote(ctx.Location)
	if cfg.Len() > 0 {
		b.Files = append(b.Files, File{Path: "/build/.hbuild/build_ext.cfg", Content: []byte("\n[build_ext]\n" + cfg.String()), Mode: 0o644})
		b.Steps = append(b.Steps, Step{Name: "setup.cfg", Script: "test -f setup.py || { echo 'no setup.py in the source: zc.recipe.egg:custom builds setuptools projects' >&2; exit 1; }\ncat /build/.hbuild/build_ext.cfg >> setup.cfg\ncat setup.cfg"})
	}
	b.Steps = append(b.Steps,
		Step{Name: "build", Script: pyq + " setup.py build"},
		Step{Name: "install", Script: pyq + " setup.py install --single-version-externally-managed --root=/ --record=" + eggRecordTo +
			" --install-lib=" + loc + " --install-scripts=" + ShellQuote(path.Join(ctx.Location, "bin")) +
			" --install-data=" + loc + " --install-headers=" + ShellQuote(path.Join(ctx.Location, "include", req.Name))},
	)
	return b, nil
}

// chosenDist is one distribution of a scripts part.
type chosenDist struct {
	project, version string
	path             string // its sys.path entry
	meta             *pydist.Metadata
	fromPart         string
	sdist            string // the unpacked sdist's top directory, or "" for a wheel
	direct           bool   // named in eggs (its scripts are generated)
}

func isEggCustom(recipe string) bool {
	r, err := Lookup(recipe)
	return err == nil && r.Name == "egg-custom"
}

func prepareEggScripts(ctx *Context, in map[string]string) (*Build, error) {
	opts, py, err := eggOptions(ctx, in)
	if err != nil {
		return nil, err
	}
	set, err := readEggSettings(ctx, opts)
	if err != nil {
		return nil, err
	}
	eggs := lines(opts["eggs"])
	if len(eggs) == 0 && strings.TrimSpace(opts["eggs"]) == "" {
		if _, ok := opts["eggs"]; !ok {
			eggs = []string{ctx.Part}
		}
	}
	// Distributions built by zc.recipe.egg:custom parts this part
	// references.
	fromParts := map[string]chosenDist{}
	for _, d := range ctx.Deps {
		sec, err := ctx.Section(d)
		if err != nil || !isEggCustom(sec["recipe"]) {
			continue
		}
		e := strings.TrimSpace(sec["egg"])
		if e == "" {
			e = d
		}
		r, err := pydist.ParseRequirement(e)
		if err != nil {
			continue
		}
		fromParts[pydist.Normalize(r.Name)] = chosenDist{project: r.Name, path: strings.TrimSpace(sec["location"]), fromPart: d}
	}
	env := py.Target.MarkerEnv()
	b := &Build{Deps: []string{py.Section}}
	var order []*chosenDist
	chosen := map[string]*chosenDist{}
	var links []pydist.Link
	listed := false
	type want struct {
		req    pydist.Requirement
		by     string
		direct bool
	}
	var queue []want
	for _, e := range eggs {
		r, err := pydist.ParseRequirement(e)
		if err != nil {
			return nil, optErr(ctx, "eggs", "%v", err)
		}
		queue = append(queue, want{r, "eggs", true})
	}
	for len(queue) > 0 {
		w := queue[0]
		queue = queue[1:]
		n := pydist.Normalize(w.req.Name)
		if c := chosen[n]; c != nil {
			if c.version != "" {
				if ok, err := w.req.Contains(c.version); err != nil || !ok {
					return nil, optErr(ctx, "eggs", "%s needs %s%s, but %s %s is used (pinned in [%s] or needed first by another distribution)", w.by, w.req.Name, w.req.Specifier, c.project, c.version, set.versionsName)
				}
			}
			c.direct = c.direct || w.direct
			continue
		}
		if fp, ok := fromParts[n]; ok {
			c := fp
			c.direct = w.direct
			chosen[n] = &c
			order = append(order, &c)
			continue
		}
		if !listed {
			if links, err = candidates(ctx, set.findLinks); err != nil {
				return nil, optErr(ctx, "find-links", "%v", err)
			}
			listed = true
		}
		if pin := set.versions[n]; pin == "" && strings.HasPrefix(w.req.Specifier, "==") && !strings.ContainsAny(w.req.Specifier, ",*") {
			set.versions[n] = strings.TrimPrefix(w.req.Specifier, "==")
		}
		l, v, err := pick(ctx, set, links, w.req.Name, py.Target, false)
		if err != nil {
			return nil, optErr(ctx, "eggs", "%s (needed by %s): %v (a distribution that a zc.recipe.egg:custom part builds is used when this part references that part, e.g. eggs = ${PART:egg})", w.req.Name, w.by, err)
		}
		if ok, err := w.req.Contains(v); err != nil || !ok {
			return nil, optErr(ctx, "eggs", "%s needs %s%s, but [%s] pins %s = %s", w.by, w.req.Name, w.req.Specifier, set.versionsName, w.req.Name, v)
		}
		dir := path.Join(ctx.Location, "eggs", safeName(l.File.Project)+"-"+v)
		dest := dir
		if l.File.Kind == "sdist" {
			dest = path.Join(eggDistDir, safeName(l.File.Project)+"-"+v)
		}
		s, p, err := fetchDist(ctx, "eggs", l, dest, true)
		if err != nil {
			return nil, optErr(ctx, "eggs", "%s: %v", w.req.Name, err)
		}
		meta, err := pydist.ReadMetadataAs(p, l.File.Name)
		if err != nil {
			return nil, optErr(ctx, "eggs", "%s: read %s: %v", w.req.Name, l.File.Name, err)
		}
		if l.File.Kind == "sdist" && !meta.HasSetupPy {
			return nil, optErr(ctx, "eggs", "%s: %s has no setup.py (it builds with a PEP 517 backend the sandbox does not have): put a wheel of %s %s in find-links", w.req.Name, l.File.Name, w.req.Name, v)
		}
		b.Sources = append(b.Sources, s)
		c := &chosenDist{project: l.File.Project, version: v, path: dir, meta: meta, direct: w.direct}
		if l.File.Kind == "sdist" {
			c.sdist = path.Join(dest, meta.TopDir)
		}
		chosen[n] = c
		order = append(order, c)
		reqs, err := meta.Applicable(env, w.req.Extras)
		if err != nil {
			return nil, optErr(ctx, "eggs", "%s %s: %v", w.req.Name, v, err)
		}
		for _, r := range reqs {
			queue = append(queue, want{r, w.req.Name + " " + v, false})
		}
	}

	// Install steps: wheels are unpacked by the engine (their .data
	// directories sorted out here); sdists are built with setup.py.
	pyq := ShellQuote(py.Executable)
	var inst strings.Builder
	for _, c := range order {
		if c.fromPart != "" {
			continue
		}
		q := ShellQuote(c.path)
		if c.sdist != "" {
			fmt.Fprintf(&inst, "echo %s\n(cd %s && %s setup.py install --single-version-externally-managed --root=/ --record=%s --install-lib=%s --install-scripts=/build/.hbuild/unused-scripts --install-data=%s/data --install-headers=%s/include)\n",
				ShellQuote("build "+c.project+" "+c.version+" from its sdist"), ShellQuote(c.sdist), pyq, eggRecordTo, q, q, q)
			continue
		}
		fmt.Fprintf(&inst, "for d in %s/*.data; do\n  [ -d \"$d\" ] || continue\n  for s in purelib platlib; do [ ! -d \"$d/$s\" ] || { cp -a \"$d/$s/.\" %s/; rm -rf \"$d/$s\"; }; done\n  rm -rf \"$d/scripts\"\n  rmdir \"$d\" 2>/dev/null || true\ndone\n", q, q)
	}
	if inst.Len() > 0 {
		inst.WriteString(pyq + " -m compileall -q " + ShellQuote(path.Join(ctx.Location, "eggs")) + " >/dev/null\n")
		b.Steps = append(b.Steps, Step{Name: "install", Script: inst.String()})
	}

	// sys.path: the distributions in resolution order, then extra-paths.
	var sysPath []string
	for _, c := range order {
		sysPath = append(sysPath, c.path)
	}
	sysPath = append(sysPath, splitWS(opts["extra-paths"])...)
	init := strings.TrimSpace(opts["initialization"])
	args := strings.TrimSpace(opts["arguments"])

	// Console scripts of the distributions named in eggs (all of them with
	// dependent-scripts), then entry-points; scripts filters and renames.
	dependent, err := boolOpt(ctx, opts, "dependent-scripts", false)
	if err != nil {
		return nil, err
	}
	type ep struct{ name, target string }
	var eps []ep
	for _, c := range order {
		if c.meta == nil || !(c.direct || dependent) {
			continue
		}
		cs := c.meta.EntryPoints["console_scripts"]
		for _, k := range sortedKeys(cs) {
			eps = append(eps, ep{k, cs[k]})
		}
	}
	for _, l := range lines(opts["entry-points"]) {
		k, v, ok := strings.Cut(l, "=")
		if !ok || !strings.Contains(v, ":") {
			return nil, optErr(ctx, "entry-points", "%q: write NAME=MODULE:ATTRIBUTE", l)
		}
		eps = append(eps, ep{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	rename := map[string]string{}
	_, filter := opts["scripts"]
	for _, s := range splitWS(opts["scripts"]) {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			v = k
		}
		rename[k] = v
	}
	seen := map[string]bool{}
	for _, e := range eps {
		name := e.name
		if filter {
			n, ok := rename[e.name]
			if !ok {
				continue
			}
			name = n
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		mod, attr, _ := strings.Cut(e.target, ":")
		b.Files = append(b.Files, File{
			Path:    path.Join(ctx.Location, "bin", name),
			Content: []byte(consoleScript(py.Executable, ctx.Part, sysPath, init, strings.TrimSpace(mod), strings.TrimSpace(attr), args)),
			Mode:    0o755,
		})
	}
	if interp := strings.TrimSpace(opts["interpreter"]); interp != "" {
		if strings.Contains(interp, "/") {
			return nil, optErr(ctx, "interpreter", "%q must be a plain file name", interp)
		}
		b.Files = append(b.Files, File{Path: path.Join(ctx.Location, "bin", interp), Content: []byte(interpreterScript(py.Executable, ctx.Part, sysPath, init)), Mode: 0o755})
	}
	if len(b.Files) == 0 && len(b.Steps) == 0 {
		b.Steps = append(b.Steps, Step{Name: "install", Script: "mkdir -p " + ShellQuote(ctx.Location)})
	}
	b.WorkDir = BuildDir
	return b, nil
}

// safeName is setuptools' safe_name for directory names.
func safeName(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r == '.' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// pyList is the sys.path prologue of a generated script: the Python
// part's own site-packages (where ensurepip put pip and setuptools) and
// the user's are taken off, then the part's distributions go first.
func pyList(paths []string) string {
	var b strings.Builder
	b.WriteString("import site as _site\n_drop = set(_site.getsitepackages() + [_site.getusersitepackages()])\nsys.path[:] = [_p for _p in sys.path if _p not in _drop]\ndel _site, _drop\n\n")
	b.WriteString("sys.path[0:0] = [\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "    %s,\n", pyString(p))
	}
	b.WriteString("]\n")
	return b.String()
}

func pyString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}

func consoleScript(python, part string, sysPath []string, init, module, attr, args string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!%s\n# Generated by hbuild for part %s (zc.recipe.egg).\n\nimport sys\n%s\n", python, part, pyList(sysPath))
	if init != "" {
		b.WriteString(init + "\n\n")
	}
	fmt.Fprintf(&b, "import %s\n\nif __name__ == '__main__':\n    sys.exit(%s.%s(%s))\n", module, module, attr, args)
	return b.String()
}

// interpreterScript behaves like python itself (-c, -m, -i, a script, or
// an interactive prompt) with sys.path holding the part's distributions.
func interpreterScript(python, part string, sysPath []string, init string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!%s\n# Generated by hbuild for part %s (zc.recipe.egg interpreter).\n\nimport sys\n%s\n", python, part, pyList(sysPath))
	if init != "" {
		b.WriteString(init + "\n\n")
	}
	b.WriteString(`_interactive = True
if len(sys.argv) > 1:
    import getopt as _getopt
    _options, _args = _getopt.getopt(sys.argv[1:], 'ic:m:')
    _interactive = False
    for (_opt, _val) in _options:
        if _opt == '-i':
            _interactive = True
        elif _opt == '-c':
            sys.argv[:] = ['-c'] + _args
            _args = []
            exec(compile(_val, '<string>', 'exec'))
        elif _opt == '-m':
            sys.argv[:] = [_val] + _args
            _args = []
            import runpy as _runpy
            _runpy.run_module(_val, {}, '__main__', alter_sys=True)
    if _args:
        sys.argv[:] = _args
        __file__ = _args[0]
        del _options, _args
        with open(__file__) as _f:
            _code = compile(_f.read(), __file__, 'exec')
        exec(_code)

if _interactive:
    del _interactive
    import code as _code_mod
    _code_mod.interact(banner='', local=globals())
`)
	return b.String()
}
