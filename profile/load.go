package profile

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// LoadOptions control Load.
type LoadOptions struct {
	Overrides          []string // "section:option=value" (command line); "option=value" means [buildout]; "x+=v", "x-=v" are operators
	IgnoreUserDefaults bool     // skip ~/.buildout/default.cfg
	UserDefaults       string   // explicit path; "" = $BUILDOUT_HOME/default.cfg or ~/.buildout/default.cfg
	Directory          string   // buildout:directory default ("" = dir of the profile, as zc.buildout)
	CacheDir           string   // where URL extends are cached ("" = no cache, unless buildout:extends-cache says)
	Offline            bool     // URL extends only from cache
	Strict             bool     // make zc.buildout's silent cases errors (see the package documentation)
	HTTPClient         *http.Client
}

// ZCBuildoutVersion is the zc.buildout version hbuild's language follows;
// it appears as the default pin `zc.buildout = >=2.13.2` in [versions].
const ZCBuildoutVersion = "2.13.2"

// DefaultExecutable is the default of buildout:executable (zc.buildout uses
// the Python running it; hbuild has none and names Debian's).
const DefaultExecutable = "/usr/bin/python3"

// buildoutDefaults are zc.buildout 2.13's _buildout_default_options.
var buildoutDefaults = [][2]string{
	{"allow-hosts", "*"},
	{"allow-picked-versions", "true"},
	{"bin-directory", "bin"},
	{"develop-eggs-directory", "develop-eggs"},
	{"eggs-directory", "eggs"},
	{"executable", DefaultExecutable},
	{"find-links", ""},
	{"install-from-cache", "false"},
	{"installed", ".installed.cfg"},
	{"log-format", ""},
	{"log-level", "INFO"},
	{"newest", "true"},
	{"offline", "false"},
	{"parts-directory", "parts"},
	{"prefer-final", "true"},
	{"python", "buildout"},
	{"show-picked-versions", "false"},
	{"socket-timeout", ""},
	{"update-versions-file", ""},
	{"use-dependency-links", "true"},
	{"allow-unknown-extras", "false"},
}

// ProfileBaseLocation is the automatic option that holds the directory of
// the file that mentions `${:_profile_base_location_}` in a section.
const ProfileBaseLocation = "_profile_base_location_"

const profileBaseRef = "${:" + ProfileBaseLocation + "}"

var isURL = regexp.MustCompile(`^[a-zA-Z0-9+.-]+://`).MatchString

type frame struct {
	id   string // file path or URL
	from string // the file whose extends named it ("" for a root)
	line int    // the line of that extends
}

type loader struct {
	opts     LoadOptions
	kind     string // KindFile or KindUserDefaults for the tree being read
	memo     map[string]data
	stack    []frame
	files    []string
	seen     map[string]bool
	dlCache  string
	offline  bool
	strict   []*Error
	hook     mergeHook
	client   *http.Client
	downOnce map[string][]byte

	// Local files are read and parsed ahead, in parallel, while the
	// sequential merge proceeds.
	preMu sync.Mutex
	pre   map[string]*prefetched
	preWG sync.WaitGroup
	sem   chan struct{}
}

type prefetched struct {
	done    chan struct{}
	src     string
	readErr error
	built   *builtFile
	err     error // parse error
}

var (
	globalsOnce sync.Once
	globals     map[string]any
)

func (l *loader) cond(expr string) (bool, error) {
	globalsOnce.Do(func() { globals = conditionGlobals() })
	return evalCondition(expr, globals)
}

// prefetch reads and parses a local file and, recursively, the local files
// it extends, in the background.
func (l *loader) prefetch(id string) {
	l.preMu.Lock()
	if _, ok := l.pre[id]; ok {
		l.preMu.Unlock()
		return
	}
	e := &prefetched{done: make(chan struct{})}
	l.pre[id] = e
	l.preMu.Unlock()
	l.preWG.Add(1)
	go func() {
		defer l.preWG.Done()
		l.sem <- struct{}{}
		b, err := os.ReadFile(id)
		var children []string
		if err != nil {
			e.readErr = unwrapPathError(err)
		} else {
			e.src = string(b)
			var pf *parsedFile
			pf, e.err = parseFile(id, e.src, l.cond)
			if e.err == nil {
				bf := &builtFile{}
				bf.d, bf.extends, bf.extendsLine, e.err = buildData(pf, id, KindFile)
				e.built = bf
				if e.err == nil {
					for _, n := range strings.FieldsFunc(bf.extends, isSpace) {
						switch {
						case isURL(n):
						case filepath.IsAbs(n):
							children = append(children, filepath.Clean(n))
						default:
							children = append(children, filepath.Join(filepath.Dir(id), n))
						}
					}
				}
			}
		}
		<-l.sem
		close(e.done)
		for _, c := range children {
			l.prefetch(c)
		}
	}()
}

// Load reads the profile at path (a file or an http(s) URL) with everything
// it extends, merges the user defaults, built-in defaults and
// opts.Overrides, and checks the [buildout] and [versions] sections as
// zc.buildout does at start-up. Errors are *Error.
func Load(path string, opts LoadOptions) (*Profile, error) {
	l := &loader{
		pre:      map[string]*prefetched{},
		sem:      make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
		opts:     opts,
		memo:     map[string]data{},
		seen:     map[string]bool{},
		downOnce: map[string][]byte{},
		client:   opts.HTTPClient,
		offline:  opts.Offline,
		dlCache:  opts.CacheDir,
	}
	if l.client == nil {
		l.client = &http.Client{Timeout: 60 * time.Second}
	}
	if opts.Strict {
		l.hook = l.strictHook
	}
	d := data{}
	bs := section{}
	for _, kv := range buildoutDefaults {
		bs[kv[0]] = newValue(kv[1], Origin{Kind: KindDefault})
	}
	d["buildout"] = bs

	cl, err := parseOverrides(opts.Overrides)
	if err != nil {
		return nil, err
	}
	l.applyDownloadOptions(cl["buildout"])

	root := path
	if !isURL(path) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, &Error{File: path, Msg: fmt.Sprintf("cannot open profile: %v", err)}
		}
		root = abs
		if _, err := os.Stat(abs); err != nil {
			return nil, &Error{File: path, Msg: fmt.Sprintf("cannot open profile: %v; give an existing file with -c", unwrapPathError(err))}
		}
		if opts.Directory == "" {
			bs["directory"] = newValue(filepath.Dir(abs), Origin{Kind: KindComputed})
		}
	}
	if opts.Directory != "" {
		dir, err := filepath.Abs(opts.Directory)
		if err != nil {
			return nil, &Error{Msg: fmt.Sprintf("directory %s: %v", opts.Directory, err)}
		}
		bs["directory"] = newValue(dir, Origin{Kind: KindComputed})
	}

	if !opts.IgnoreUserDefaults {
		ud, explicit := opts.UserDefaults, opts.UserDefaults != ""
		if !explicit {
			if h := os.Getenv("BUILDOUT_HOME"); h != "" {
				ud = filepath.Join(h, "default.cfg")
			} else if home, err := os.UserHomeDir(); err == nil {
				ud = filepath.Join(home, ".buildout", "default.cfg")
			}
		}
		if ud != "" {
			_, err := os.Stat(ud)
			switch {
			case err == nil:
				abs, err := filepath.Abs(ud)
				if err != nil {
					return nil, &Error{File: ud, Msg: err.Error()}
				}
				l.kind = KindUserDefaults
				u, err := l.open(filepath.Dir(abs), abs, "", 0)
				if err != nil {
					return nil, err
				}
				mergeData(d, u, l.hook)
			case explicit:
				return nil, &Error{File: ud, Msg: fmt.Sprintf("cannot read the user defaults file: %v", unwrapPathError(err))}
			}
		}
	}
	l.kind = KindFile
	l.memo = map[string]data{}
	l.applyDownloadOptions(d["buildout"])
	l.applyDownloadOptions(cl["buildout"])
	base := filepath.Dir(root)
	if isURL(root) {
		base = root[:strings.LastIndexByte(root, '/')]
	}
	if !isURL(root) {
		l.prefetch(root)
	}
	res, err := l.open(base, root, "", 0)
	l.preWG.Wait()
	if err != nil {
		return nil, err
	}
	mergeData(d, res, l.hook)
	mergeData(d, cl, l.hook)

	if _, ok := d["buildout"]["versions"]; !ok {
		b := cloneSection(d["buildout"])
		b["versions"] = newValue("versions", Origin{Kind: KindDefault})
		d["buildout"] = b
		if _, ok := d["versions"]; !ok {
			d["versions"] = section{}
		}
	}
	if vname := d["buildout"]["versions"].Raw; vname != "" {
		vs, ok := d[vname]
		if !ok {
			v := d["buildout"]["versions"]
			o := lastFileOrigin(v)
			return nil, &Error{File: o.File, Line: o.Line, Section: "buildout", Option: "versions",
				Msg: fmt.Sprintf("the versions section %q does not exist; define [%s] or set versions to an existing section", vname, vname)}
		}
		vs = cloneSection(vs)
		for _, kv := range [][2]string{{"zc.buildout", ">=" + ZCBuildoutVersion}, {"zc.recipe.egg", ">=2.0.6"}} {
			if _, ok := vs[kv[0]]; !ok {
				vs[kv[0]] = newValue(kv[1], Origin{Kind: KindDefault})
			}
		}
		d[vname] = vs
	}
	if err := absolutize(d); err != nil {
		return nil, err
	}
	if opts.Strict {
		if len(l.strict) > 0 {
			return nil, l.strict[0]
		}
		if err := strictCheck(d); err != nil {
			return nil, err
		}
	}
	p := newProfile(root, d, l.files)
	if err := p.startup(); err != nil {
		return nil, err
	}
	return p, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func cloneSection(s section) section {
	c := make(section, len(s)+2)
	for k, v := range s {
		c[k] = v
	}
	return c
}

// lastFileOrigin returns the newest origin of v that names a file, or the
// newest origin.
func lastFileOrigin(v *Value) Origin {
	for x := v; x != nil; x = x.prev {
		if x.o.File != "" {
			return x.o
		}
	}
	return v.last()
}

func (l *loader) strictHook(key string, op *Value, operator byte) {
	if operator != '-' {
		return
	}
	o := op.last()
	name, _ := opBase(key)
	l.strict = append(l.strict, &Error{File: o.File, Line: o.Line, Option: name,
		Msg: fmt.Sprintf("`%s -=` removes lines from an option that does not exist; define %s in a base profile first or delete this line", name, name)})
}

// strictCheck reports operators zc.buildout leaves unresolved and `<=` in
// [buildout].
func strictCheck(d data) error {
	names := make([]string, 0, len(d))
	for n := range d {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, sn := range names {
		keys := sortedKeys(d[sn])
		for _, k := range keys {
			v := d[sn][k]
			o := lastFileOrigin(v)
			if name, op := opBase(k); op != 0 {
				if _, inMacro := d[sn]["<"]; inMacro {
					continue // resolved when the macro is expanded
				}
				return &Error{File: o.File, Line: o.Line, Section: sn, Option: name,
					Msg: fmt.Sprintf("`%s %c=` is never applied: [%s] exists in no profile this file extends, so zc.buildout keeps an option literally named %q; write `%s = ...` instead", name, op, sn, k, name)}
			}
			if sn == "buildout" && k == "<" {
				return &Error{File: o.File, Line: o.Line, Section: sn, Option: "<",
					Msg: "macros (`<=`) are not expanded in [buildout]; remove the line"}
			}
		}
	}
	return nil
}

func sortedKeys(s section) []string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// parseOverrides turns "section:option=value" assignments into a
// command-line profile.
func parseOverrides(list []string) (data, error) {
	d := data{}
	for _, a := range list {
		left, value, ok := strings.Cut(a, "=")
		if !ok {
			return nil, &Error{Msg: fmt.Sprintf("override %q has no \"=\"; write section:option=value", a)}
		}
		parts := strings.Split(left, ":")
		var sec, opt string
		switch len(parts) {
		case 1:
			sec, opt = "buildout", parts[0]
		case 2:
			sec, opt = parts[0], parts[1]
		default:
			return nil, &Error{Msg: fmt.Sprintf("override %q has too many colons; write section:option=value", a)}
		}
		sec, opt, value = pyStrip(sec), pyStrip(opt), pyStrip(value)
		if sec == "" || opt == "" {
			return nil, &Error{Msg: fmt.Sprintf("override %q needs a section and an option; write section:option=value", a)}
		}
		if d[sec] == nil {
			d[sec] = section{}
		}
		d[sec][opt] = newValue(value, Origin{Kind: KindCommandLine})
	}
	return d, nil
}

// applyDownloadOptions takes extends-cache and offline from a [buildout]
// section that zc.buildout consults for downloads.
func (l *loader) applyDownloadOptions(s section) {
	if v, ok := s["extends-cache"]; ok && v.Raw != "" && !strings.Contains(v.Raw, "${") {
		dir := expandUser(v.Raw)
		if !filepath.IsAbs(dir) {
			if o := v.last(); o.File != "" && !isURL(o.File) {
				dir = filepath.Join(filepath.Dir(o.File), dir)
			} else if abs, err := filepath.Abs(dir); err == nil {
				dir = abs
			}
		}
		l.dlCache = dir
	}
	for _, k := range []string{"offline", "install-from-cache"} {
		if v, ok := s[k]; ok && v.Raw == "true" {
			l.offline = true
		}
	}
}

func expandUser(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home := os.Getenv("HOME"); home != "" {
			return home + p[1:]
		}
		if home, err := os.UserHomeDir(); err == nil {
			return home + p[1:]
		}
	}
	return p
}

// open reads one file and everything it extends, fully merged (zc.buildout's
// _open). Results are memoised per file: a file extended through several
// paths is read and resolved once.
func (l *loader) open(base, name, from string, line int) (data, error) {
	var id string
	switch {
	case isURL(name):
		id = name
	case isURL(base) && !filepath.IsAbs(name):
		id = base + "/" + name
	case filepath.IsAbs(name):
		id = filepath.Clean(name)
	default:
		id = filepath.Join(base, name)
	}
	for i, f := range l.stack {
		if f.id == id {
			chain := make([]string, 0, len(l.stack)-i+1)
			for _, g := range l.stack[i:] {
				chain = append(chain, g.id)
			}
			chain = append(chain, id)
			return nil, &Error{File: from, Line: line, Section: "buildout", Option: "extends",
				Msg: fmt.Sprintf("recursive extends: %s; remove one of these extends", strings.Join(chain, " -> "))}
		}
	}
	if d, ok := l.memo[id]; ok {
		return d, nil
	}
	var pf *parsedFile
	var built *builtFile
	var src string
	var err error
	l.preMu.Lock()
	pe := l.pre[id]
	l.preMu.Unlock()
	if pe != nil && l.kind == KindFile {
		<-pe.done
		src, err, built = pe.src, pe.readErr, pe.built
		if err == nil && pe.err != nil {
			return nil, pe.err
		}
	} else {
		src, err = l.read(id)
	}
	if err != nil {
		if from == "" {
			return nil, &Error{File: id, Msg: fmt.Sprintf("cannot read profile: %v", err)}
		}
		return nil, &Error{File: from, Line: line, Section: "buildout", Option: "extends",
			Msg: fmt.Sprintf("cannot read extended profile %s: %v; fix the path (relative paths are relative to the extending file)", id, err)}
	}
	if !l.seen[id] {
		l.seen[id] = true
		l.files = append(l.files, id)
	}
	if built == nil {
		if pf, err = parseFile(id, src, l.cond); err != nil {
			return nil, err
		}
	}
	root := len(l.stack) == 0
	l.stack = append(l.stack, frame{id: id, from: from, line: line})
	defer func() { l.stack = l.stack[:len(l.stack)-1] }()

	var result data
	var extends string
	var extendsLine int
	if built != nil {
		result, extends, extendsLine = built.d, built.extends, built.extendsLine
	} else if result, extends, extendsLine, err = buildData(pf, id, l.kind); err != nil {
		return nil, err
	}
	if root {
		l.applyDownloadOptions(result["buildout"])
	}
	if names := strings.FieldsFunc(extends, isSpace); len(names) > 0 {
		thisBase := filepath.Dir(id)
		if isURL(id) {
			thisBase = id[:strings.LastIndexByte(id, '/')]
		}
		first, err := l.open(thisBase, names[0], id, extendsLine)
		if err != nil {
			return nil, err
		}
		rest := make([]data, 0, len(names)-1)
		for _, n := range names[1:] {
			e, err := l.open(thisBase, n, id, extendsLine)
			if err != nil {
				return nil, err
			}
			rest = append(rest, e)
		}
		acc := maps.Clone(first)
		for _, e := range rest {
			mergeData(acc, e, l.hook)
		}
		mergeData(acc, result, l.hook)
		result = acc
	}
	l.memo[id] = result
	return result, nil
}

// builtFile is one file's sections as values, before its extends are
// merged.
type builtFile struct {
	d           data
	extends     string
	extendsLine int
}

// buildData turns a parsed file into values (origin: the file, kind), with
// buildout:extends taken out and _profile_base_location_ added.
func buildData(pf *parsedFile, id, kind string) (data, string, int, error) {
	var extends string
	extendsLine := 0
	if b, ok := pf.sections["buildout"]; ok {
		if e, ok := b.opts["extends"]; ok {
			extends, extendsLine = e.value, e.line
			delete(b.opts, "extends")
		}
		if e, ok := b.opts["extended-by"]; ok {
			return nil, "", 0, &Error{File: id, Line: e.line, Section: "buildout", Option: "extended-by",
				Msg: "the extended-by option is no longer supported; make the other profile extend this one instead"}
		}
	}
	result := make(data, len(pf.sections))
	nopts := 0
	for _, ps := range pf.sections {
		nopts += len(ps.opts)
	}
	slab := make([]Value, nopts) // one allocation for the file's values
	for sname, ps := range pf.sections {
		s := make(section, len(ps.opts)+1)
		pbl := false
		for k, o := range ps.opts {
			v := &slab[0]
			slab = slab[1:]
			*v = Value{Raw: o.value, o: Origin{File: id, Line: o.line, Kind: kind, Text: o.value}, n: 1}
			s[k] = v
			if !pbl && strings.Contains(o.value, profileBaseRef) {
				pbl = true
			}
		}
		if pbl {
			// The SlapOS fork's automatic option (spec §15.1): the
			// directory (or URL prefix) of the file, for every section of
			// that file that mentions it.
			base := filepath.Dir(id)
			if isURL(id) {
				base = id[:strings.LastIndexByte(id, '/')]
			}
			s[ProfileBaseLocation] = newValue(base, Origin{File: id, Line: ps.line, Kind: kind})
		}
		result[sname] = s
	}
	return result, extends, extendsLine, nil
}

// read returns a file's text: a local file, or a URL fetched over HTTP and
// cached under the MD5 of the URL (zc.buildout's extends-cache layout).
func (l *loader) read(id string) (string, error) {
	if !isURL(id) {
		b, err := os.ReadFile(id)
		if err != nil {
			return "", unwrapPathError(err)
		}
		return string(b), nil
	}
	if b, ok := l.downOnce[id]; ok {
		return string(b), nil
	}
	var cached string
	if l.dlCache != "" {
		sum := md5.Sum([]byte(id))
		cached = filepath.Join(l.dlCache, hex.EncodeToString(sum[:]))
	}
	if l.offline {
		if cached == "" {
			return "", fmt.Errorf("cannot download %s in offline mode (no extends cache)", id)
		}
		b, err := os.ReadFile(cached)
		if err != nil {
			return "", fmt.Errorf("cannot download %s in offline mode: not in the extends cache %s", id, l.dlCache)
		}
		l.downOnce[id] = b
		return string(b), nil
	}
	b, err := l.fetch(id)
	if err != nil {
		if cached != "" {
			if cb, cerr := os.ReadFile(cached); cerr == nil {
				l.downOnce[id] = cb
				return string(cb), nil
			}
		}
		return "", err
	}
	if cached != "" {
		if err := writeAtomic(cached, b); err != nil {
			return "", fmt.Errorf("cache %s: %w", id, err)
		}
	}
	l.downOnce[id] = b
	return string(b), nil
}

func (l *loader) fetch(url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", url, err)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download %s: HTTP %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", url, err)
	}
	return b, nil
}

func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// absolutize makes download-cache, eggs-directory and extends-cache
// absolute as zc.buildout does: relative to the file that set them, or to
// buildout:directory for defaults and the command line.
func absolutize(d data) error {
	b := d["buildout"]
	var nb section
	for _, name := range []string{"download-cache", "eggs-directory", "extends-cache"} {
		v, ok := b[name]
		if !ok || strings.Contains(v.Raw, "${") {
			continue
		}
		if filepath.IsAbs(v.Raw) {
			continue
		}
		src := v.last()
		var basedir string
		switch src.Kind {
		case KindDefault, KindComputed, KindCommandLine, KindImplicit:
			if dv, ok := b["directory"]; ok {
				basedir = dv.Raw
			} else {
				basedir, _ = os.Getwd()
			}
		default:
			if isURL(src.File) {
				return &Error{File: src.File, Line: src.Line, Section: "buildout", Option: name,
					Msg: fmt.Sprintf("setting %s to a relative location (%q) in a remote profile is ambiguous; use an absolute path", name, v.Raw)}
			}
			basedir = filepath.Dir(src.File)
		}
		abs := expandUser(v.Raw)
		if !filepath.IsAbs(abs) {
			abs = pyJoin(basedir, abs)
		}
		if !filepath.IsAbs(abs) {
			wd, _ := os.Getwd()
			abs = filepath.Join(wd, abs)
		}
		abs = filepath.Clean(abs)
		if nb == nil {
			nb = cloneSection(b)
		}
		o := src
		o.Op = OpDirectory
		o.Text = abs
		nb[name] = v.with(abs, o)
	}
	if nb != nil {
		d["buildout"] = nb
	}
	return nil
}

// pyJoin is Python's os.path.join for two POSIX paths (no cleaning).
func pyJoin(a, b string) string {
	if strings.HasPrefix(b, "/") || a == "" {
		return b
	}
	if strings.HasSuffix(a, "/") {
		return a + b
	}
	return a + "/" + b
}
