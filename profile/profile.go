package profile

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Profile is a loaded profile: the merged raw sections with the history of
// every value, and the lazily substituted view. Its methods are safe for
// concurrent use.
type Profile struct {
	mu        sync.Mutex
	path      string
	annotated data // what annotate shows: merged, before macros and substitution
	raw       data // the start-up view substitution works on
	files     []string
	secs      map[string]*secState
	chain     []string // options being substituted, outermost first

	inheritedRaw map[string]map[string]*Value // Raw's macro-inherited options
	warnings     []Warning
}

// Warnings returns what Load accepted but is probably a mistake, sorted by
// file and line: `-=` on an option that does not exist, an operator left
// unresolved (an option named "x +"), optional-extends skipped or not
// applied. Under LoadOptions.Strict the first two are errors instead.
func (p *Profile) Warnings() []Warning {
	return append([]Warning(nil), p.warnings...)
}

// secState is zc.buildout's Options object of one section.
type secState struct {
	name         string
	raw          section           // after macro expansion
	inherited    map[string]string // option -> macro section it came from
	cooked       map[string]string // substituted by the section's initialisation
	data         map[string]string // values handed out (and set by start-up)
	extra        []string          // options only in data
	initializing bool
	err          error
}

func newProfile(path string, d data, files []string) *Profile {
	return &Profile{
		path:      path,
		annotated: d,
		raw:       d,
		files:     files,
		secs:      map[string]*secState{},
	}
}

// Path is the profile Load read (absolute, or a URL).
func (p *Profile) Path() string { return p.path }

// Files returns every profile file read (paths and URLs), in reading order.
func (p *Profile) Files() []string { return append([]string(nil), p.files...) }

// SectionNames returns the names of all sections, sorted.
func (p *Profile) SectionNames() []string {
	names := make([]string, 0, len(p.annotated))
	for n := range p.annotated {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Has reports whether the section exists.
func (p *Profile) Has(section string) bool {
	_, ok := p.annotated[section]
	return ok
}

// Raw returns the merged value of an option before substitution, with its
// history. Options written in the section are returned as annotate shows
// them (before macro expansion; unresolved operator keys are options named
// like "x +", the macro option is "<"); an option the section only
// inherits through `<=` is returned as expanded, its last origin an
// OpMacro step naming the macro section (nothing if the expansion fails:
// Get and Resolve report why).
func (p *Profile) Raw(section, option string) (*Value, bool) {
	sec := p.annotated[section]
	v, ok := sec[option]
	if ok {
		p.mu.Lock()
		v.materialize()
		p.mu.Unlock()
		return v, true
	}
	if _, macro := sec["<"]; !macro || section == "buildout" {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inheritedRaw == nil {
		p.inheritedRaw = map[string]map[string]*Value{}
	}
	exp, done := p.inheritedRaw[section]
	if !done {
		inh := map[string]string{}
		if s, err := p.expand(section, sec, nil, inh); err == nil {
			exp = make(map[string]*Value, len(inh))
			for k, src := range inh {
				x := s[k].with(s[k].Raw, Origin{Kind: KindComputed, Op: OpMacro, Text: src})
				exp[k] = &Value{Raw: x.Raw, Origins: x.history()}
			}
		}
		p.inheritedRaw[section] = exp
	}
	v, ok = exp[option]
	return v, ok
}

// RawOptions returns the option names of a section before macro expansion,
// sorted.
func (p *Profile) RawOptions(section string) ([]string, bool) {
	s, ok := p.annotated[section]
	if !ok {
		return nil, false
	}
	return sortedKeys(s), true
}

// Directory returns buildout:directory as substituted at start-up.
func (p *Profile) Directory() string {
	d, _ := p.Get("buildout", "directory")
	return d
}

// Options returns the option names of a section after macro expansion,
// sorted (what Resolve returns).
func (p *Profile) Options(section string) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := p.access(section, nil)
	if err != nil {
		return nil, err
	}
	keys := append(sortedKeys(st.raw), st.extra...)
	sort.Strings(keys)
	return keys, nil
}

// Expanded returns a section's raw values after macro expansion (inherited
// values carry an OpMacro origin), before substitution.
func (p *Profile) Expanded(section string) (map[string]*Value, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := p.access(section, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*Value, len(st.raw))
	for k, v := range st.raw {
		if src, ok := st.inherited[k]; ok {
			v = v.with(v.Raw, Origin{Kind: KindComputed, Op: OpMacro, Text: src})
		}
		out[k] = &Value{Raw: v.Raw, Origins: v.history()}
	}
	return out, nil
}

// Get returns an option's fully substituted value. Like zc.buildout, the
// first access to a section substitutes all its options, so a bad
// reference anywhere in the section (or in a section it references) is an
// error.
func (p *Profile) Get(section, option string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := p.access(section, nil)
	if err != nil {
		return "", err
	}
	v, ok, err := p.get(st, option, nil)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &Error{Section: section, Option: option,
			Msg: fmt.Sprintf("option %s does not exist in [%s]", option, section)}
	}
	return v, nil
}

// Resolve returns every option of a section, substituted.
func (p *Profile) Resolve(section string) (map[string]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := p.access(section, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(st.raw)+len(st.extra))
	for _, k := range append(sortedKeys(st.raw), st.extra...) {
		v, _, err := p.get(st, k, nil)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// Refs returns the sections that a section's options reference directly
// (`${other:option}`, and the names of its `=>` line), sorted, without
// duplicates and without the section itself.
func (p *Profile) Refs(section string) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := p.access(section, nil)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for k, v := range st.raw {
		if k == "<part-dependencies>" {
			for _, n := range strings.FieldsFunc(v.Raw, isSpace) {
				set[n] = true
			}
		}
		for _, piece := range strings.Split(v.Raw, "$$") {
			forEachRef(piece, func(ref string) {
				if sec, _, ok := splitValidRef(ref); ok && sec != "" {
					set[sec] = true
				}
			})
		}
	}
	delete(set, section)
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// ---- zc.buildout's Options machinery ----

type refKey struct{ section, option string }

// access is Buildout.__getitem__: the section, initialised on first access.
// A section being initialised is returned as is (re-entrant access).
func (p *Profile) access(name string, from *locator) (*secState, error) {
	if st, ok := p.secs[name]; ok {
		if st.err != nil {
			return nil, st.err
		}
		return st, nil
	}
	rs, ok := p.raw[name]
	if !ok {
		return nil, from.errorf("section [%s] does not exist; define it or fix the reference", name)
	}
	st := &secState{name: name, raw: rs, cooked: map[string]string{}, data: map[string]string{}}
	p.secs[name] = st
	st.initializing = true
	err := p.initialize(st)
	st.initializing = false
	if err != nil {
		st.err = err
		return nil, err
	}
	return st, nil
}

func (p *Profile) initialize(st *secState) error {
	if _, ok := st.raw["<"]; ok {
		st.inherited = map[string]string{}
		exp, err := p.expand(st.name, st.raw, nil, st.inherited)
		if err != nil {
			return err
		}
		st.raw = exp
	}
	for _, k := range sortedKeys(st.raw) {
		if v := st.raw[k].Raw; strings.Contains(v, "${") {
			if err := p.dosub(st, k, v); err != nil {
				return err
			}
		}
	}
	if st.name == "buildout" {
		return nil
	}
	deps, ok, err := p.get(st, "<part-dependencies>", nil)
	if err != nil || !ok {
		return err
	}
	loc := p.locate(st, "<part-dependencies>")
	for _, d := range strings.FieldsFunc(deps, isSpace) {
		if _, err := p.access(d, loc); err != nil {
			return err
		}
	}
	return nil
}

// expand is _do_extend_raw: the `<` macro.
func (p *Profile) expand(name string, raw section, doing []string, inherited map[string]string) (section, error) {
	if name == "buildout" {
		return raw, nil
	}
	lt, ok := raw["<"]
	for _, d := range doing {
		if d == name {
			o := lastFileOrigin(lt)
			if !ok {
				o = Origin{}
			}
			return nil, &Error{File: o.File, Line: o.Line, Section: name, Option: "<",
				Msg: fmt.Sprintf("infinite macro loop: %s -> %s; a section cannot inherit from itself", strings.Join(doing, " -> "), name)}
		}
	}
	if !ok {
		return raw, nil
	}
	doing = append(doing[:len(doing):len(doing)], name)
	lo := lastFileOrigin(lt)
	result := make(section, len(raw)+8)
	for _, line := range strings.Split(lt.Raw, "\n") {
		src := pyStrip(line)
		if src == "" {
			continue
		}
		rs, ok := p.raw[src]
		if !ok {
			hint := "define it or fix the name"
			if strings.ContainsFunc(src, isSpace) {
				hint = "write one section per line: `<=` then each name on its own indented line"
			}
			return nil, &Error{File: lo.File, Line: lo.Line, Section: name, Option: "<",
				Msg: fmt.Sprintf("macro section [%s] does not exist; %s", src, hint)}
		}
		exp, err := p.expand(src, rs, doing, nil)
		if err != nil {
			return nil, err
		}
		for k, v := range exp {
			result[k] = v
			if inherited != nil {
				inherited[k] = src
			}
		}
	}
	result = mergeSectionMode(name, result, raw, nil, true)
	delete(result, "<")
	if inherited != nil {
		for k, v := range raw {
			if result[k] == v {
				delete(inherited, k)
			}
		}
	}
	return result, nil
}

func (p *Profile) dosub(st *secState, option, v string) error {
	seen := []refKey{{st.name, option}}
	p.chain = append(p.chain, st.name+":"+option)
	out, err := p.subAll(st, option, v, &seen)
	p.chain = p.chain[:len(p.chain)-1]
	if err != nil {
		return err
	}
	st.cooked[option] = out
	return nil
}

// get is Options.get: the substituted value, cached.
func (p *Profile) get(st *secState, option string, seen *[]refKey) (string, bool, error) {
	if v, ok := st.data[option]; ok {
		return v, true, nil
	}
	v, ok := st.cooked[option]
	if !ok {
		rv, ok := st.raw[option]
		if !ok {
			return "", false, nil
		}
		v = rv.Raw
	}
	if strings.Contains(v, "${") {
		key := refKey{st.name, option}
		if seen == nil {
			seen = &[]refKey{key}
		} else {
			for i, k := range *seen {
				if k == key {
					cyc := make([]string, 0, len(*seen)-i+1)
					for _, c := range (*seen)[i:] {
						cyc = append(cyc, c.section+":"+c.option)
					}
					cyc = append(cyc, key.section+":"+key.option)
					loc := p.locate(st, option)
					loc.noChain = true // the cycle says it all
					e := loc.errorf("circular reference: %s; break the cycle", strings.Join(cyc, " -> "))
					return "", false, e
				}
			}
			*seen = append(*seen, key)
		}
		p.chain = append(p.chain, st.name+":"+option)
		out, err := p.subAll(st, option, v, seen)
		p.chain = p.chain[:len(p.chain)-1]
		*seen = (*seen)[:len(*seen)-1]
		if err != nil {
			return "", false, err
		}
		v = out
	}
	st.data[option] = v
	return v, true, nil
}

func (p *Profile) subAll(st *secState, option, v string, seen *[]refKey) (string, error) {
	if !strings.Contains(v, "$$") {
		return p.sub(st, option, v, seen)
	}
	pieces := strings.Split(v, "$$")
	for i, piece := range pieces {
		s, err := p.sub(st, option, piece, seen)
		if err != nil {
			return "", err
		}
		pieces[i] = s
	}
	return strings.Join(pieces, "$$"), nil
}

// forEachRef calls f with every `${...}` reference of a piece (the shortest
// run from "${" to the next "}"), left to right.
func forEachRef(piece string, f func(ref string)) {
	for {
		i := strings.Index(piece, "${")
		if i < 0 {
			return
		}
		j := strings.IndexByte(piece[i+2:], '}')
		if j < 0 {
			return
		}
		f(piece[i : i+2+j+1])
		piece = piece[i+2+j+1:]
	}
}

func simpleName(s string, allowEmpty bool) bool {
	if s == "" {
		return allowEmpty
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == ' ' || c == '.' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// pySimple is `[-a-zA-Z0-9 ._]+$` with Python's `$` (which also matches
// before a final newline).
func pySimple(s string) bool {
	return simpleName(strings.TrimSuffix(s, "\n"), false) && strings.TrimSuffix(s, "\n") != ""
}

// splitValidRef splits a valid reference `${section:option}`.
func splitValidRef(ref string) (sec, opt string, ok bool) {
	inner := ref[2 : len(ref)-1]
	sec, opt, found := strings.Cut(inner, ":")
	if !found || strings.Contains(opt, ":") || !simpleName(sec, true) || !simpleName(opt, false) {
		return "", "", false
	}
	return sec, opt, true
}

// refError explains an invalid reference, checked in zc.buildout's order.
func refError(ref string) (string, bool) {
	if _, _, ok := splitValidRef(ref); ok {
		return "", false
	}
	parts := strings.Split(ref[2:len(ref)-1], ":")
	switch {
	case len(parts) < 2:
		return fmt.Sprintf("the substitution %s has no colon; write ${section:option} or ${:option}", ref), true
	case len(parts) > 2:
		return fmt.Sprintf("the substitution %s has too many colons; write ${section:option}", ref), true
	case !pySimple(parts[0]):
		return fmt.Sprintf("the section name in the substitution %s has invalid characters (allowed: letters, digits, '-', '.', '_', space)", ref), true
	case !pySimple(parts[1]):
		return fmt.Sprintf("the option name in the substitution %s has invalid characters (allowed: letters, digits, '-', '.', '_', space)", ref), true
	}
	return "", false
}

// sub is Options._sub: replace every reference of one `$$`-free piece.
func (p *Profile) sub(st *secState, option, template string, seen *[]refKey) (string, error) {
	if !strings.Contains(template, "${") {
		return template, nil
	}
	var b strings.Builder
	rest := template
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i+2:], '}')
		if j < 0 {
			break
		}
		ref := rest[i : i+2+j+1]
		b.WriteString(rest[:i])
		rest = rest[i+2+j+1:]
		if msg, bad := refError(ref); bad {
			return "", p.locate(st, option).errorf("%s", msg)
		}
		sec, opt, _ := strings.Cut(ref[2:len(ref)-1], ":")
		if sec == "" {
			sec = st.name
		}
		loc := locator{p: p, st: st, option: option, target: ref}
		tst, err := p.access(sec, &loc)
		if err != nil {
			return "", err
		}
		v, ok, err := p.get(tst, opt, seen)
		if err != nil {
			return "", err
		}
		if !ok {
			if opt == "_buildout_section_name_" {
				v = st.name
			} else {
				return "", loc.errorf("option %s referenced by %s does not exist in [%s]; define it or fix the reference", opt, ref, sec)
			}
		}
		b.WriteString(v)
	}
	b.WriteString(rest)
	return b.String(), nil
}

// locator places an error at an option: its file and line, and the chain
// of references being resolved.
type locator struct {
	p       *Profile
	st      *secState
	option  string
	noChain bool
	target  string
}

func (p *Profile) locate(st *secState, option string) *locator {
	return &locator{p: p, st: st, option: option}
}

func (l *locator) errorf(format string, args ...any) error {
	if l == nil {
		return &Error{Msg: fmt.Sprintf(format, args...)}
	}
	e := &Error{Section: l.st.name, Option: l.option, Msg: fmt.Sprintf(format, args...)}
	if v, ok := l.st.raw[l.option]; ok {
		o := textOrigin(v)
		e.File, e.Line = o.File, o.Line
	}
	var chain []string
	if !l.noChain {
		chain = append(chain, l.p.chain...)
	}
	if l.target != "" {
		t := l.target[2 : len(l.target)-1]
		if strings.HasPrefix(t, ":") {
			t = l.st.name + t
		}
		chain = append(chain, t)
	}
	if len(chain) > 1 {
		e.Chain = chain
	}
	return e
}

// textOrigin is the newest origin of v that wrote text into a file (not a
// macro inheritance step), or the newest origin.
func textOrigin(v *Value) Origin {
	for x := v; x != nil; x = x.prev {
		if o := x.o; o.File != "" && o.Op != OpMacro {
			return o
		}
	}
	return v.last()
}

// ---- start-up: what zc.buildout's Buildout.__init__ does ----

var boolNames = map[string]bool{"true": true, "false": false}

func (p *Profile) startup() error {
	b := p.raw["buildout"]
	if dir, ok := b["directory"]; ok {
		nb := cloneSection(b)
		for _, name := range []string{"bin", "parts", "eggs", "develop-eggs"} {
			key := name + "-directory"
			v, ok := nb[key]
			if !ok {
				continue
			}
			if nv := buildoutPath(dir.Raw, v.Raw); nv != v.Raw {
				nb[key] = v.with(nv, Origin{Kind: KindComputed, Op: OpDirectory, Text: nv})
			}
		}
		raw := make(data, len(p.raw))
		for k, v := range p.raw {
			raw[k] = v
		}
		raw["buildout"] = nb
		p.raw = raw
	}
	rawBool := func(name string) (bool, error) {
		v, ok := p.annotated["buildout"][name]
		if !ok {
			return false, nil
		}
		bv, ok := boolNames[v.Raw]
		if !ok {
			o := lastFileOrigin(v)
			return false, &Error{File: o.File, Line: o.Line, Section: "buildout", Option: name,
				Msg: fmt.Sprintf("invalid value %q; write true or false", v.Raw)}
		}
		return bv, nil
	}
	offline, err := rawBool("offline")
	if err != nil {
		return err
	}
	if !offline {
		if _, err := rawBool("newest"); err != nil {
			return err
		}
	}
	st, err := p.access("buildout", nil)
	if err != nil {
		return err
	}
	must := func(name string) (string, error) {
		v, ok, err := p.get(st, name, nil)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", &Error{Section: "buildout", Option: name,
				Msg: fmt.Sprintf("missing option buildout:%s; set it in [buildout] or on the command line", name)}
		}
		return v, nil
	}
	bad := func(name, msg string) error {
		e := &Error{Section: "buildout", Option: name, Msg: msg}
		if v, ok := st.raw[name]; ok {
			o := lastFileOrigin(v)
			e.File, e.Line = o.File, o.Line
		}
		return e
	}
	set := func(name, v string) {
		if _, ok := st.raw[name]; !ok {
			if _, ok := st.data[name]; !ok {
				st.extra = append(st.extra, name)
			}
		}
		st.data[name] = v
	}
	boolOpt := func(name, def string) (bool, error) {
		v, ok, err := p.get(st, name, nil)
		if err != nil {
			return false, err
		}
		if !ok {
			v = def
		}
		bv, ok := boolNames[v]
		if !ok {
			return false, bad(name, fmt.Sprintf("invalid value %q; write true or false", v))
		}
		return bv, nil
	}
	for _, n := range []string{"find-links"} {
		if _, _, err := p.get(st, n, nil); err != nil {
			return err
		}
	}
	if _, err := must("allow-hosts"); err != nil {
		return err
	}
	dir, err := must("directory")
	if err != nil {
		return err
	}
	for _, name := range []string{"bin", "parts", "eggs", "develop-eggs"} {
		v, err := must(name + "-directory")
		if err != nil {
			return err
		}
		set(name+"-directory", buildoutPath(dir, v))
	}
	if inst, err := must("installed"); err != nil {
		return err
	} else if inst != "" {
		set("installed", pyJoin(dir, inst))
	}
	if _, err := must("log-format"); err != nil {
		return err
	}
	level, err := must("log-level")
	if err != nil {
		return err
	}
	switch level {
	case "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL":
	default:
		if _, err := strconv.Atoi(pyStrip(level)); err != nil {
			return bad("log-level", fmt.Sprintf("invalid logging level %q; write DEBUG, INFO, WARNING, ERROR, CRITICAL or a number", level))
		}
	}
	if verb, ok, err := p.get(st, "verbosity", nil); err != nil {
		return err
	} else if ok {
		if _, err := strconv.Atoi(pyStrip(verb)); err != nil {
			return bad("verbosity", fmt.Sprintf("invalid verbosity %q; write a number", verb))
		}
	}
	if _, err := must("socket-timeout"); err != nil {
		return err
	}
	if vname := p.annotated["buildout"]["versions"].Raw; vname != "" {
		if _, err := p.access(vname, p.locate(st, "versions")); err != nil {
			return err
		}
	}
	if _, err := must("versions"); err != nil {
		return err
	}
	for _, n := range []string{"prefer-final", "use-dependency-links", "allow-picked-versions", "show-picked-versions"} {
		if _, err := boolOpt(n, ""); err != nil {
			return err
		}
	}
	for _, n := range []string{"update-versions-file"} {
		if _, err := must(n); err != nil {
			return err
		}
	}
	for _, n := range []string{"download-cache", "extends-cache"} {
		if _, _, err := p.get(st, n, nil); err != nil {
			return err
		}
	}
	abi, err := boolOpt("abi-tag-eggs", "false")
	if err != nil {
		return err
	}
	if abi {
		eggs, err := must("eggs-directory")
		if err != nil {
			return err
		}
		set("eggs-directory", pyJoin(eggs, fmt.Sprintf("cp%d%d", targetPythonMajor, targetPythonMinor)))
	}
	ifc, err := boolOpt("install-from-cache", "")
	if err != nil {
		return err
	}
	if ifc && offline {
		return bad("install-from-cache", "install-from-cache can't be used with offline mode; set one of them to false")
	}
	for _, kv := range buildoutDefaults {
		if _, err := must(kv[0]); err != nil {
			return err
		}
	}
	sort.Strings(st.extra)
	return nil
}

// buildoutPath is Buildout._buildout_path.
func buildoutPath(dir, name string) string {
	if strings.Contains(name, "${") {
		return name
	}
	return pyJoin(dir, name)
}
