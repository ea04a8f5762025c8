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

	// Merge selects how extends are merged: MergeNested ("" = nested
	// unless the root file says `[buildout] hbuild-merge = flattened`) or
	// MergeFlattened. An explicit value beats the root file's.
	Merge string
}

// Merge modes (LoadOptions.Merge, [buildout] hbuild-merge).
const (
	MergeNested    = "nested"    // zc.buildout 2.13 to 3.0.1: each extended file is resolved on its own (default)
	MergeFlattened = "flattened" // zc.buildout HEAD (>= 3.1.1): one depth-first sequence of per-file results
)

// MergeOption is the [buildout] option of the root file that selects the
// merge mode when LoadOptions.Merge is empty.
const MergeOption = "hbuild-merge"

// Warning is something zc.buildout accepts silently that is probably a
// mistake, or a file optional-extends skipped. File and Line say where
// (File is empty for the command line).
type Warning struct {
	File    string
	Line    int
	Section string
	Option  string
	Msg     string
}

// String is "file:line: warning: msg".
func (w Warning) String() string {
	where := w.File
	if where == "" {
		where = "command line"
	} else if w.Line > 0 {
		where = fmt.Sprintf("%s:%d", w.File, w.Line)
	}
	return where + ": warning: " + w.Msg
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
	flat     bool                  // MergeFlattened
	built    map[string]*builtFile // flattened mode: each file's own data
	warnings []Warning
	warnSeen map[Warning]bool
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
			pf, e.err = parseFileMode(id, e.src, l.cond, l.flat)
			if e.err == nil {
				var bf *builtFile
				bf, e.err = buildData(pf, id, KindFile, l.flat)
				e.built = bf
				if e.err == nil {
					for _, n := range strings.FieldsFunc(bf.extends+" "+bf.optional, isSpace) {
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
	l.hook = l.operatorHook
	l.warnSeen = map[Warning]bool{}
	l.built = map[string]*builtFile{}
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

	switch opts.Merge {
	case "", MergeNested:
	case MergeFlattened:
		l.flat = true
	default:
		return nil, &Error{Msg: fmt.Sprintf("unknown merge mode %q; use %q or %q", opts.Merge, MergeNested, MergeFlattened)}
	}
	if opts.Merge == "" && !isURL(root) {
		flat, err := l.rootMergeMode(root)
		if err != nil {
			return nil, err
		}
		l.flat = flat
	}

	var userData data
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
				if l.flat {
					seq, err := l.openFlat(filepath.Dir(abs), abs, "", 0)
					if err != nil {
						return nil, err
					}
					userData = data{}
					for _, r := range seq {
						mergeDataFlat(userData, r, l.hook)
					}
					break
				}
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
	l.built = map[string]*builtFile{}
	l.applyDownloadOptions(d["buildout"])
	if userData != nil {
		l.applyDownloadOptions(userData["buildout"])
	}
	l.applyDownloadOptions(cl["buildout"])
	base := filepath.Dir(root)
	if isURL(root) {
		base = root[:strings.LastIndexByte(root, '/')]
	}
	if !isURL(root) {
		l.prefetch(root)
	}
	var res data
	if l.flat {
		var seq []data
		seq, err = l.openFlat(base, root, "", 0)
		if err == nil {
			// The user defaults lie under the whole project, as in the
			// nested mode; in the sequence they come first.
			res = data{}
			if userData != nil {
				seq = append([]data{userData}, seq...)
			}
			for _, r := range seq {
				mergeDataFlat(res, r, l.hook)
			}
		}
	} else {
		res, err = l.open(base, root, "", 0)
	}
	l.preWG.Wait()
	if err != nil {
		return nil, err
	}
	if l.flat {
		mergeDataFlat(d, res, l.hook)
		if err := l.commandLineExtends(d, cl); err != nil {
			return nil, err
		}
		mergeDataFlat(d, cl, l.hook)
	} else {
		mergeData(d, res, l.hook)
		mergeData(d, cl, l.hook)
	}

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
	l.leftoverWarnings(d)
	p := newProfile(root, d, l.files)
	if err := p.startup(); err != nil {
		return nil, err
	}
	sort.SliceStable(l.warnings, func(i, j int) bool {
		a, b := l.warnings[i], l.warnings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Section != b.Section {
			return a.Section < b.Section
		}
		if a.Option != b.Option {
			return a.Option < b.Option
		}
		return a.Msg < b.Msg
	})
	p.warnings = l.warnings
	return p, nil
}

// commandLineExtends is zc.buildout 3's `buildout:extends=f1 f2` on the
// command line (flattened mode): the files (relative to the working
// directory) are opened as root profiles and merged over d, left to right,
// before the other overrides; the option is taken out of cl.
func (l *loader) commandLineExtends(d, cl data) error {
	v, ok := cl["buildout"]["extends"]
	if !ok {
		return nil
	}
	b := cloneSection(cl["buildout"])
	delete(b, "extends")
	cl["buildout"] = b
	wd, err := os.Getwd()
	if err != nil {
		return &Error{Section: "buildout", Option: "extends", Msg: fmt.Sprintf("command-line extends: %v", err)}
	}
	for _, n := range strings.FieldsFunc(v.Raw, isSpace) {
		if !isURL(n) {
			if _, err := os.Stat(resolveID(wd, n)); err != nil {
				return &Error{Section: "buildout", Option: "extends",
					Msg: fmt.Sprintf("cannot open %s given as buildout:extends on the command line: %v; paths are relative to the working directory", n, unwrapPathError(err))}
			}
		}
		seq, err := l.openFlat(wd, n, "", 0)
		if err != nil {
			return err
		}
		r := data{}
		for _, x := range seq {
			mergeDataFlat(r, x, l.hook)
		}
		mergeDataFlat(d, r, l.hook)
	}
	return nil
}

func (l *loader) warn(w Warning) {
	if !l.warnSeen[w] {
		l.warnSeen[w] = true
		l.warnings = append(l.warnings, w)
	}
}

// rootMergeMode reads [buildout] hbuild-merge of the root file.
func (l *loader) rootMergeMode(root string) (bool, error) {
	src, err := l.read(root)
	if err != nil {
		return false, &Error{File: root, Msg: fmt.Sprintf("cannot read profile: %v", err)}
	}
	if !strings.Contains(src, MergeOption) {
		return false, nil
	}
	pf, err := parseFile(root, src, l.cond)
	if err != nil {
		return false, err
	}
	b, ok := pf.sections["buildout"]
	if !ok {
		return false, nil
	}
	o, ok := b.opts[MergeOption]
	if !ok {
		return false, nil
	}
	switch o.value {
	case MergeNested:
		return false, nil
	case MergeFlattened:
		return true, nil
	}
	return false, &Error{File: root, Line: o.line, Section: "buildout", Option: MergeOption,
		Msg: fmt.Sprintf("unknown merge mode %q; write %s = %s or %s = %s", o.value, MergeOption, MergeNested, MergeOption, MergeFlattened)}
}

// leftoverWarnings warns about operators zc.buildout leaves unresolved.
func (l *loader) leftoverWarnings(d data) {
	for sn, s := range d {
		if _, inMacro := s["<"]; inMacro {
			continue // resolved when the macro is expanded
		}
		for k, v := range s {
			name, op := opBase(k)
			if op == 0 {
				continue
			}
			o := lastFileOrigin(v)
			l.warn(Warning{File: o.File, Line: o.Line, Section: sn, Option: name,
				Msg: fmt.Sprintf("`%s %c=` in [%s] is never applied: the section exists in no profile this file extends, so zc.buildout keeps an option literally named %q and no %s; write `%s = ...` instead, or use the flattened merge", name, op, sn, k, name, name)})
		}
	}
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

// operatorHook warns about `-=` on an option that does not exist (an
// error under Strict).
func (l *loader) operatorHook(sec, key string, op *Value, operator byte) {
	if operator != '-' {
		return
	}
	o := op.last()
	name, _ := opBase(key)
	msg := fmt.Sprintf("`%s -=` removes lines from an option that does not exist; define %s in a base profile first or delete this line", name, name)
	l.warn(Warning{File: o.File, Line: o.Line, Section: sec, Option: name,
		Msg: fmt.Sprintf("`%s -=` in [%s] removes lines from an option that does not exist (zc.buildout makes it empty); define %s in a base profile first or delete this line", name, sec, name)})
	if l.opts.Strict {
		l.strict = append(l.strict, &Error{File: o.File, Line: o.Line, Section: sec, Option: name, Msg: msg})
	}
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

// resolveID is the identity of the file name extended from base (a
// directory or URL prefix).
func resolveID(base, name string) string {
	switch {
	case isURL(name):
		return name
	case isURL(base) && !filepath.IsAbs(name):
		return base + "/" + name
	case filepath.IsAbs(name):
		return filepath.Clean(name)
	}
	return filepath.Join(base, name)
}

// cycle reports an extends cycle through id.
func (l *loader) cycle(id, from string, line int) error {
	for i, f := range l.stack {
		if f.id == id {
			chain := make([]string, 0, len(l.stack)-i+1)
			for _, g := range l.stack[i:] {
				chain = append(chain, g.id)
			}
			chain = append(chain, id)
			return &Error{File: from, Line: line, Section: "buildout", Option: "extends",
				Msg: fmt.Sprintf("recursive extends: %s; remove one of these extends", strings.Join(chain, " -> "))}
		}
	}
	return nil
}

// readBuilt reads and parses one file (from the prefetch when it has it).
func (l *loader) readBuilt(id, from string, line int) (*builtFile, error) {
	if b, ok := l.built[id]; ok {
		return b, nil
	}
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
		pf, err := parseFileMode(id, src, l.cond, l.flat)
		if err != nil {
			return nil, err
		}
		if built, err = buildData(pf, id, l.kind, l.flat); err != nil {
			return nil, err
		}
	}
	if l.flat {
		l.built[id] = built
	}
	return built, nil
}

// openFlat is zc.buildout HEAD's _open (spec §5.4): the per-file results
// of name and everything it extends, in depth-first post-order (extends,
// then optional-extends, then the file itself). A file extended through
// several paths appears once per path.
func (l *loader) openFlat(base, name, from string, line int) ([]data, error) {
	id := resolveID(base, name)
	if err := l.cycle(id, from, line); err != nil {
		return nil, err
	}
	built, err := l.readBuilt(id, from, line)
	if err != nil {
		return nil, err
	}
	root := len(l.stack) == 0
	l.stack = append(l.stack, frame{id: id, from: from, line: line})
	defer func() { l.stack = l.stack[:len(l.stack)-1] }()
	if root {
		l.applyDownloadOptions(built.d["buildout"])
	}
	thisBase := filepath.Dir(id)
	if isURL(id) {
		thisBase = id[:strings.LastIndexByte(id, '/')]
	}
	var seq []data
	for _, n := range strings.FieldsFunc(built.extends, isSpace) {
		sub, err := l.openFlat(thisBase, n, id, built.extendsLine)
		if err != nil {
			return nil, err
		}
		seq = append(seq, sub...)
	}
	for _, n := range strings.FieldsFunc(built.optional, isSpace) {
		if isURL(n) || isURL(id) && !filepath.IsAbs(n) {
			return nil, &Error{File: id, Line: built.optionalLine, Section: "buildout", Option: "optional-extends",
				Msg: fmt.Sprintf("optional-extends takes local paths only, not %s; use extends for URLs", n)}
		}
		oid := resolveID(thisBase, n)
		if _, err := os.Stat(oid); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, &Error{File: id, Line: built.optionalLine, Section: "buildout", Option: "optional-extends",
					Msg: fmt.Sprintf("cannot read optional profile %s: %v", oid, unwrapPathError(err))}
			}
			l.warn(Warning{File: id, Line: built.optionalLine, Section: "buildout", Option: "optional-extends",
				Msg: fmt.Sprintf("optional-extends file not found: %s (skipped)", oid)})
			continue
		}
		sub, err := l.openFlat(thisBase, n, id, built.optionalLine)
		if err != nil {
			return nil, err
		}
		seq = append(seq, sub...)
	}
	return append(seq, built.d), nil
}

// open reads one file and everything it extends, fully merged (zc.buildout's
// _open). Results are memoised per file: a file extended through several
// paths is read and resolved once.
func (l *loader) open(base, name, from string, line int) (data, error) {
	id := resolveID(base, name)
	if err := l.cycle(id, from, line); err != nil {
		return nil, err
	}
	if d, ok := l.memo[id]; ok {
		return d, nil
	}
	built, err := l.readBuilt(id, from, line)
	if err != nil {
		return nil, err
	}
	root := len(l.stack) == 0
	l.stack = append(l.stack, frame{id: id, from: from, line: line})
	defer func() { l.stack = l.stack[:len(l.stack)-1] }()

	result, extends, extendsLine := built.d, built.extends, built.extendsLine
	if built.optionalLine > 0 {
		l.warn(Warning{File: id, Line: built.optionalLine, Section: "buildout", Option: "optional-extends",
			Msg: "optional-extends is not applied in the nested merge (zc.buildout 2.13 and 3.0 keep it as a plain option); select the flattened merge (--merge flattened or [buildout] hbuild-merge = flattened) or use extends"})
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
	d            data
	extends      string
	extendsLine  int
	optional     string // optional-extends (flattened mode only)
	optionalLine int    // its line (both modes; in nested mode it stays an option)
}

// buildData turns a parsed file into values (origin: the file, kind), with
// buildout:extends taken out (and optional-extends in flattened mode) and
// _profile_base_location_ added.
func buildData(pf *parsedFile, id, kind string, flat bool) (*builtFile, error) {
	bf := &builtFile{}
	if b, ok := pf.sections["buildout"]; ok {
		if e, ok := b.opts["extends"]; ok {
			bf.extends, bf.extendsLine = e.value, e.line
			delete(b.opts, "extends")
		}
		if e, ok := b.opts["optional-extends"]; ok {
			bf.optionalLine = e.line
			if flat {
				bf.optional = e.value
				delete(b.opts, "optional-extends")
			}
		}
		if e, ok := b.opts["extended-by"]; ok {
			return nil, &Error{File: id, Line: e.line, Section: "buildout", Option: "extended-by",
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
	bf.d = result
	return bf, nil
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
