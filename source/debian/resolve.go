package debian

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"pault.ag/go/debian/dependency"
	"pault.ag/go/debian/version"
)

// ResolveError says which package cannot be installed and why, with the
// chain of dependencies that led to it.
type ResolveError struct {
	Chain      []string // requested package first, the failing package last
	Dependency string   // the relation that cannot be satisfied ("" for a request)
	Reason     string
}

func (e *ResolveError) Error() string {
	var b strings.Builder
	b.WriteString("resolve packages: ")
	if e.Dependency == "" {
		fmt.Fprintf(&b, "cannot install %s: %s", e.Chain[len(e.Chain)-1], e.Reason)
	} else {
		fmt.Fprintf(&b, "%s depends on %q, which cannot be satisfied: %s", e.Chain[len(e.Chain)-1], e.Dependency, e.Reason)
	}
	if len(e.Chain) > 1 {
		fmt.Fprintf(&b, " (required by %s)", strings.Join(e.Chain, " -> "))
	}
	return b.String()
}

// Resolver computes dependency closures over a set of package indices.
type Resolver struct {
	arch      string
	archObj   *dependency.Arch
	byName    map[string][]*Package // best version first
	providers map[string][]provider
	deps      map[*Package]*parsedDeps
}

type provider struct {
	pkg     *Package
	version string // "" = unversioned Provides
}

type parsedDeps struct {
	depends, conflicts *dependency.Dependency
}

// NewResolver indexes pkgs for arch; packages of other architectures are
// ignored, arch "all" is kept. Among equal versions the earlier entry wins,
// so pass the main suite first.
func NewResolver(arch string, pkgs []*Package) (*Resolver, error) {
	a, err := dependency.ParseArch(arch)
	if err != nil {
		return nil, fmt.Errorf("resolve packages: architecture %q: %w", arch, err)
	}
	r := &Resolver{arch: arch, archObj: a, byName: map[string][]*Package{}, providers: map[string][]provider{}, deps: map[*Package]*parsedDeps{}}
	for _, p := range pkgs {
		if p.Architecture != arch && p.Architecture != "all" {
			continue
		}
		if p.ver.Version == "" {
			v, err := version.Parse(p.Version)
			if err != nil {
				return nil, fmt.Errorf("resolve packages: %s: version %q: %w", p.Name, p.Version, err)
			}
			p.ver = v
		}
		r.byName[p.Name] = append(r.byName[p.Name], p)
		if p.Provides != "" {
			d, err := dependency.Parse(p.Provides)
			if err != nil {
				return nil, fmt.Errorf("resolve packages: %s %s: Provides: %w", p.Name, p.Version, err)
			}
			for _, rel := range d.Relations {
				for _, poss := range rel.Possibilities {
					pv := provider{pkg: p}
					if poss.Version != nil && poss.Version.Operator == "=" {
						pv.version = poss.Version.Number
					}
					r.providers[poss.Name] = append(r.providers[poss.Name], pv)
				}
			}
		}
	}
	for _, list := range r.byName {
		sort.SliceStable(list, func(i, j int) bool { return version.Compare(list[i].ver, list[j].ver) > 0 })
	}
	return r, nil
}

func (r *Resolver) parsed(p *Package) (*parsedDeps, error) {
	if d, ok := r.deps[p]; ok {
		return d, nil
	}
	d := &parsedDeps{}
	var dep []string
	for _, s := range []string{p.PreDepends, p.Depends} {
		if strings.TrimSpace(s) != "" {
			dep = append(dep, s)
		}
	}
	var err error
	if d.depends, err = dependency.Parse(strings.Join(dep, ", ")); err != nil {
		return nil, fmt.Errorf("resolve packages: %s %s: Depends: %w", p.Name, p.Version, err)
	}
	var con []string
	for _, s := range []string{p.Conflicts, p.Breaks} {
		if strings.TrimSpace(s) != "" {
			con = append(con, s)
		}
	}
	if d.conflicts, err = dependency.Parse(strings.Join(con, ", ")); err != nil {
		return nil, fmt.Errorf("resolve packages: %s %s: Conflicts: %w", p.Name, p.Version, err)
	}
	r.deps[p] = d
	return d, nil
}

// state is one resolution in progress.
type state struct {
	r        *Resolver
	selected map[string]*Package
	parent   map[string]string
	order    []*Package
}

func (s *state) chain(name string) []string {
	var c []string
	seen := map[string]bool{}
	for n := name; n != "" && !seen[n]; n = s.parent[n] {
		seen[n] = true
		c = append([]string{n}, c...)
	}
	return c
}

func satisfies(v version.Version, rel *dependency.VersionRelation) bool {
	if rel == nil {
		return true
	}
	return rel.SatisfiedBy(v)
}

// archOK reports whether a possibility applies on this architecture and
// names a package of it (foo:any and foo:native do; foo:i386 does not).
func (r *Resolver) archOK(p dependency.Possibility) bool {
	if p.Architectures != nil && len(p.Architectures.Architectures) > 0 && !p.Architectures.Matches(r.archObj) {
		return false
	}
	if p.Arch != nil {
		s := p.Arch.String()
		return s == "any" || s == "native" || s == r.arch || s == "all"
	}
	return true
}

// satisfiedBy returns a selected package that satisfies p, or nil.
func (s *state) satisfiedBy(p dependency.Possibility) *Package {
	if sel := s.selected[p.Name]; sel != nil && satisfies(sel.ver, p.Version) {
		return sel
	}
	for _, pv := range s.r.providers[p.Name] {
		if s.selected[pv.pkg.Name] != pv.pkg {
			continue
		}
		if p.Version == nil {
			return pv.pkg
		}
		if pv.version != "" {
			if v, err := version.Parse(pv.version); err == nil && satisfies(v, p.Version) {
				return pv.pkg
			}
		}
	}
	return nil
}

var priorityRank = map[string]int{"required": 0, "important": 1, "standard": 2, "optional": 3, "extra": 4}

func rank(p *Package) int {
	if r, ok := priorityRank[p.Priority]; ok {
		return r
	}
	return 5
}

// candidates lists packages that could satisfy p, best first, with a reason
// when there are none.
func (s *state) candidates(p dependency.Possibility) ([]*Package, string) {
	var out []*Package
	var why []string
	if sel := s.selected[p.Name]; sel != nil {
		why = append(why, fmt.Sprintf("%s %s is already selected", sel.Name, sel.Version))
	} else if list := s.r.byName[p.Name]; len(list) > 0 {
		var have []string
		for _, c := range list {
			if satisfies(c.ver, p.Version) {
				out = append(out, c)
			} else {
				have = append(have, c.Version+" ("+c.Suite+")")
			}
		}
		if len(out) == 0 {
			why = append(why, fmt.Sprintf("%s has only version %s", p.Name, strings.Join(have, ", ")))
		}
	}
	var provs []*Package
	for _, pv := range s.r.providers[p.Name] {
		if sel := s.selected[pv.pkg.Name]; sel != nil && sel != pv.pkg {
			continue
		}
		if p.Version != nil {
			if pv.version == "" {
				continue
			}
			v, err := version.Parse(pv.version)
			if err != nil || !satisfies(v, p.Version) {
				continue
			}
		}
		provs = append(provs, pv.pkg)
	}
	sort.SliceStable(provs, func(i, j int) bool {
		a, b := provs[i], provs[j]
		if rank(a) != rank(b) {
			return rank(a) < rank(b)
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return version.Compare(a.ver, b.ver) > 0
	})
	out = append(out, provs...)
	if len(out) == 0 && len(why) == 0 {
		if len(s.r.providers[p.Name]) > 0 {
			why = append(why, fmt.Sprintf("no provider of %s matches", p.Name))
		} else {
			why = append(why, fmt.Sprintf("no package %s for %s", p.Name, s.r.arch))
		}
	}
	return out, strings.Join(why, "; ")
}

// conflict returns a description when installing c next to the selected
// packages is forbidden by a Conflicts or Breaks relation (either way).
func (s *state) conflict(c *Package) (string, error) {
	cd, err := s.r.parsed(c)
	if err != nil {
		return "", err
	}
	for _, sel := range s.order {
		if sel == c {
			continue
		}
		if hits(cd.conflicts, sel, s.r) {
			return fmt.Sprintf("%s %s conflicts with %s %s", c.Name, c.Version, sel.Name, sel.Version), nil
		}
		sd, err := s.r.parsed(sel)
		if err != nil {
			return "", err
		}
		if hits(sd.conflicts, c, s.r) {
			return fmt.Sprintf("%s %s conflicts with %s %s", sel.Name, sel.Version, c.Name, c.Version), nil
		}
	}
	return "", nil
}

// hits reports whether relation set d names pkg (directly or through
// pkg's Provides).
func hits(d *dependency.Dependency, pkg *Package, r *Resolver) bool {
	if d == nil {
		return false
	}
	for _, rel := range d.Relations {
		for _, p := range rel.Possibilities {
			if !r.archOK(p) {
				continue
			}
			if p.Name == pkg.Name && satisfies(pkg.ver, p.Version) {
				return true
			}
			if p.Version == nil {
				for _, pv := range r.providers[p.Name] {
					if pv.pkg == pkg {
						return true
					}
				}
			}
		}
	}
	return false
}

func (s *state) add(p *Package, parent string) {
	s.selected[p.Name] = p
	if parent != "" {
		s.parent[p.Name] = parent
	}
	s.order = append(s.order, p)
}

// Resolve returns the dependency closure (Pre-Depends and Depends) of the
// requested packages, sorted by name. A request is NAME or NAME=VERSION.
// Alternatives are tried in order, virtual packages are satisfied through
// Provides (preferring the provider of highest priority), Conflicts and
// Breaks between selected packages are refused.
func (r *Resolver) Resolve(request []string) ([]*Package, error) {
	s := &state{r: r, selected: map[string]*Package{}, parent: map[string]string{}}
	// Select every requested package first, so that a dependency on a
	// virtual package prefers what was asked for.
	for _, req := range request {
		name, ver, _ := strings.Cut(strings.TrimSpace(req), "=")
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if sel := s.selected[name]; sel != nil {
			continue
		}
		p := dependency.Possibility{Name: name}
		if ver != "" {
			p.Version = &dependency.VersionRelation{Operator: "=", Number: strings.TrimSpace(ver)}
		}
		cands, why := s.candidates(p)
		var real *Package
		for _, c := range cands {
			if c.Name == name {
				real = c
				break
			}
		}
		if real == nil {
			if len(cands) > 0 {
				// A virtual package was requested: install its best provider.
				real = cands[0]
				s.parent[real.Name] = name
			} else {
				return nil, &ResolveError{Chain: []string{req}, Reason: why}
			}
		}
		if msg, err := s.conflict(real); err != nil {
			return nil, err
		} else if msg != "" {
			return nil, &ResolveError{Chain: []string{name}, Reason: msg}
		}
		s.add(real, "")
	}
	for i := 0; i < len(s.order); i++ {
		pkg := s.order[i]
		d, err := r.parsed(pkg)
		if err != nil {
			return nil, err
		}
		for _, rel := range d.depends.Relations {
			var poss []dependency.Possibility
			for _, p := range rel.Possibilities {
				if !p.Substvar && r.archOK(p) {
					poss = append(poss, p)
				}
			}
			if len(poss) == 0 {
				continue // the whole relation applies to other architectures
			}
			done := false
			for _, p := range poss {
				if s.satisfiedBy(p) != nil {
					done = true
					break
				}
			}
			if done {
				continue
			}
			var reasons []string
			for _, p := range poss {
				cands, why := s.candidates(p)
				for _, c := range cands {
					msg, err := s.conflict(c)
					if err != nil {
						return nil, err
					}
					if msg != "" {
						why = msg
						continue
					}
					s.add(c, pkg.Name)
					done = true
					break
				}
				if done {
					break
				}
				reasons = append(reasons, why)
			}
			if !done {
				return nil, &ResolveError{Chain: s.chain(pkg.Name), Dependency: relationString(rel), Reason: strings.Join(reasons, "; ")}
			}
		}
	}
	out := append([]*Package(nil), s.order...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func relationString(rel dependency.Relation) string {
	var parts []string
	for _, p := range rel.Possibilities {
		s := p.Name
		if p.Version != nil {
			s += " (" + p.Version.Operator + " " + p.Version.Number + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}

// Resolve reads the indices of every suite in opts (default: the host's
// first deb source) and resolves packages into a lock.
func Resolve(ctx context.Context, packages []string, opts Options) (*Lock, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var all []*Package
	for _, suite := range o.Suites {
		a, err := Open(ctx, o.Mirror, suite, o)
		if err != nil {
			return nil, err
		}
		pkgs, err := a.Packages(ctx)
		if err != nil {
			return nil, err
		}
		all = append(all, pkgs...)
	}
	r, err := NewResolver(o.Arch, all)
	if err != nil {
		return nil, err
	}
	sel, err := r.Resolve(packages)
	if err != nil {
		return nil, err
	}
	return NewLock(o.Arch, o.Suites, packages, sel), nil
}
