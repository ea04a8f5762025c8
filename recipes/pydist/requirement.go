package pydist

import (
	"fmt"
	"strings"
)

// Requirement is a PEP 508 requirement. ParseRequirement also accepts the
// older PKG-INFO form "name (>=1.0)".
type Requirement struct {
	Name      string   // as written
	Extras    []string // as written
	Specifier string   // comma-separated clauses without spaces, e.g. ">=1.0,!=1.3.*,<2"; "" = any
	Marker    string   // the text after ';', "" = none
	URL       string   // "name @ url" form
}

// String renders r in PEP 508 form.
func (r Requirement) String() string {
	var b strings.Builder
	b.WriteString(r.Name)
	if len(r.Extras) > 0 {
		b.WriteString("[" + strings.Join(r.Extras, ",") + "]")
	}
	switch {
	case r.URL != "":
		b.WriteString(" @ " + r.URL)
		if r.Marker != "" {
			b.WriteString(" ")
		}
	default:
		b.WriteString(r.Specifier)
	}
	if r.Marker != "" {
		b.WriteString("; " + r.Marker)
	}
	return b.String()
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validName says whether s is a PEP 508 distribution name.
func validName(s string) bool {
	if s == "" || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

// ParseRequirement parses a PEP 508 requirement such as
// `name[extra1,extra2] >= 1.0, < 2; python_version < "3.8"`,
// `name @ https://host/name.whl` or the old form `name (>=1.0)`.
func ParseRequirement(s string) (Requirement, error) {
	r, err := parseRequirement(s)
	if err != nil {
		return Requirement{}, fmt.Errorf("parse requirement %q: %w", s, err)
	}
	return r, nil
}

func parseRequirement(s string) (Requirement, error) {
	var r Requirement
	rest := strings.TrimSpace(s)
	i := 0
	for i < len(rest) && isNameByte(rest[i]) {
		i++
	}
	r.Name, rest = rest[:i], strings.TrimSpace(rest[i:])
	if !validName(r.Name) {
		return r, fmt.Errorf("expected a project name at the start")
	}
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return r, fmt.Errorf("missing ']' after the extras")
		}
		for _, e := range strings.Split(rest[1:end], ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			if !validName(e) {
				return r, fmt.Errorf("invalid extra name %q", e)
			}
			r.Extras = append(r.Extras, e)
		}
		if strings.TrimSpace(rest[1:end]) != "" && len(r.Extras) != strings.Count(rest[1:end], ",")+1 {
			return r, fmt.Errorf("empty extra name in %q", rest[:end+1])
		}
		rest = strings.TrimSpace(rest[end+1:])
	}
	if strings.HasPrefix(rest, "@") {
		rest = strings.TrimSpace(rest[1:])
		end := strings.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		r.URL, rest = rest[:end], strings.TrimSpace(rest[end:])
		if r.URL == "" || !strings.Contains(r.URL, ":") {
			return r, fmt.Errorf("expected a URL after '@'")
		}
		if rest != "" && rest[0] != ';' {
			return r, fmt.Errorf("unexpected %q after the URL", rest)
		}
	} else {
		spec := rest
		if semi := strings.IndexByte(rest, ';'); semi >= 0 {
			spec, rest = rest[:semi], rest[semi:]
		} else {
			rest = ""
		}
		spec = strings.TrimSpace(spec)
		if strings.HasPrefix(spec, "(") {
			if !strings.HasSuffix(spec, ")") {
				return r, fmt.Errorf("missing ')' after the version specifier")
			}
			spec = strings.TrimSpace(spec[1 : len(spec)-1])
		}
		if spec != "" {
			clauses, err := parseSpecifier(spec)
			if err != nil {
				return r, err
			}
			parts := make([]string, len(clauses))
			for i, c := range clauses {
				parts[i] = c.op + c.ver
			}
			r.Specifier = strings.Join(parts, ",")
		}
	}
	if rest != "" {
		// rest starts with ';'.
		r.Marker = strings.TrimSpace(rest[1:])
		if r.Marker == "" {
			return r, fmt.Errorf("empty marker after ';'")
		}
		if _, err := parseMarker(r.Marker); err != nil {
			return r, err
		}
	}
	return r, nil
}

// clause is one comparison of a version specifier.
type clause struct {
	op, ver string
	wild    bool    // == or != with a trailing .*
	v       version // parsed ver (not for ===)
}

var specOps = []string{"===", "~=", "==", "!=", "<=", ">=", "<", ">"}

// parseSpecifier parses a comma-separated PEP 440 version specifier.
func parseSpecifier(spec string) ([]clause, error) {
	var out []clause
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		op := ""
		for _, o := range specOps {
			if strings.HasPrefix(part, o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, fmt.Errorf("invalid version clause %q: expected one of %s", part, strings.Join(specOps, " "))
		}
		c := clause{op: op, ver: strings.TrimSpace(part[len(op):])}
		if c.ver == "" || strings.ContainsAny(c.ver, " \t;()") {
			return nil, fmt.Errorf("invalid version clause %q", part)
		}
		if op == "===" {
			out = append(out, c)
			continue
		}
		ver := c.ver
		if (op == "==" || op == "!=") && strings.HasSuffix(ver, ".*") {
			c.wild, ver = true, strings.TrimSuffix(ver, ".*")
		}
		v, ok := parseVersion(ver)
		if !ok {
			return nil, fmt.Errorf("invalid version %q in clause %q", ver, part)
		}
		switch {
		case c.wild && v.local != nil:
			return nil, fmt.Errorf("invalid clause %q: a prefix match has no local label", part)
		case op == "~=" && (len(v.release) < 2 || v.local != nil):
			return nil, fmt.Errorf("invalid clause %q: ~= needs at least two release numbers and no local label", part)
		case op != "==" && op != "!=" && v.local != nil:
			return nil, fmt.Errorf("invalid clause %q: %s takes no local label", part, op)
		}
		c.v = v
		out = append(out, c)
	}
	return out, nil
}

// Contains says whether version satisfies every clause of r.Specifier.
// Pre-releases are not filtered out. A version that is not PEP 440 only
// satisfies an empty specifier or === clauses, and is an error otherwise.
func (r Requirement) Contains(ver string) (bool, error) {
	if r.Specifier == "" {
		return true, nil
	}
	clauses, err := parseSpecifier(r.Specifier)
	if err != nil {
		return false, fmt.Errorf("check %s against %s: %w", ver, r.Name, err)
	}
	return specContains(clauses, ver)
}

// SpecifierContains says whether version satisfies the specifier spec
// (e.g. ">=1.0,<2").
func SpecifierContains(spec, ver string) (bool, error) {
	return Requirement{Specifier: spec}.Contains(ver)
}

func specContains(clauses []clause, ver string) (bool, error) {
	v, ok := parseVersion(ver)
	for _, c := range clauses {
		if c.op == "===" {
			if !strings.EqualFold(strings.TrimSpace(ver), c.ver) {
				return false, nil
			}
			continue
		}
		if !ok {
			return false, fmt.Errorf("version %q is not a PEP 440 version", ver)
		}
		if !c.matches(v) {
			return false, nil
		}
	}
	return true, nil
}

// prefixMatch implements "==V.*": v's release, padded with zeros, starts
// with p's, and p's pre/post/dev parts (if any) equal v's.
func prefixMatch(p, v version) bool {
	if v.epoch != p.epoch {
		return false
	}
	for i, n := range p.release {
		x := "0"
		if i < len(v.release) {
			x = v.release[i]
		}
		if x != n {
			return false
		}
	}
	if p.pre < 0 && !p.post && !p.dev {
		return true
	}
	// A prefix with a suffix (==1.0a1.*) is rare; compare the parts given.
	if cmpRelease(p.release, v.release) != 0 || p.pre != v.pre || p.preN != v.preN {
		return false
	}
	if p.post && (!v.post || p.postN != v.postN) {
		return false
	}
	if p.dev && (!v.dev || p.devN != v.devN) {
		return false
	}
	return true
}

func (c clause) matches(v version) bool {
	switch c.op {
	case "==", "!=":
		var eq bool
		switch {
		case c.wild:
			eq = prefixMatch(c.v, v.public())
		case c.v.local == nil:
			eq = v.public().cmp(c.v) == 0
		default:
			eq = v.cmp(c.v) == 0
		}
		return eq == (c.op == "==")
	case "~=":
		prefix := version{epoch: c.v.epoch, release: c.v.release[:len(c.v.release)-1], pre: -1}
		return v.public().cmp(c.v) >= 0 && prefixMatch(prefix, v.public())
	case "<=":
		return v.public().cmp(c.v) <= 0
	case ">=":
		return v.public().cmp(c.v) >= 0
	case "<":
		if v.public().cmp(c.v) >= 0 {
			return false
		}
		// <V excludes pre-releases of V itself unless V is one.
		return c.v.isPre() || !v.isPre() || v.base().cmp(c.v.base()) != 0
	case ">":
		if v.public().cmp(c.v) <= 0 {
			return false
		}
		// >V excludes post-releases and local versions of V itself.
		if !c.v.post && v.post && v.base().cmp(c.v.base()) == 0 {
			return false
		}
		return v.local == nil || v.base().cmp(c.v.base()) != 0
	}
	return false
}
