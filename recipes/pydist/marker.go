package pydist

import (
	"fmt"
	"strings"
)

// markerVars are the PEP 508 environment markers, with the legacy dotted
// names that old metadata still uses mapped to them.
var markerVars = map[string]string{
	"python_version":                 "python_version",
	"python_full_version":            "python_full_version",
	"os_name":                        "os_name",
	"sys_platform":                   "sys_platform",
	"platform_release":               "platform_release",
	"platform_system":                "platform_system",
	"platform_version":               "platform_version",
	"platform_machine":               "platform_machine",
	"platform_python_implementation": "platform_python_implementation",
	"implementation_name":            "implementation_name",
	"implementation_version":         "implementation_version",
	"extra":                          "extra",
	"os.name":                        "os_name",
	"sys.platform":                   "sys_platform",
	"platform.version":               "platform_version",
	"platform.machine":               "platform_machine",
	"platform.python_implementation": "platform_python_implementation",
	"python_implementation":          "platform_python_implementation",
}

// markerNode is a parsed marker: an and/or of its kids, or a comparison.
type markerNode struct {
	op       string // "and", "or" or a comparison operator
	kids     []*markerNode
	lhs, rhs markerValue
}

type markerValue struct {
	name  string // environment variable (canonical name), or ""
	value string // the literal when name == ""
}

type markerToken struct {
	kind string // "(", ")", "str", "id", "op", "end"
	text string
}

func lexMarker(s string) ([]markerToken, error) {
	var toks []markerToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, markerToken{kind: string(c)})
			i++
		case c == '"' || c == '\'':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unterminated string at offset %d", i)
			}
			toks = append(toks, markerToken{kind: "str", text: s[i+1 : i+1+end]})
			i += end + 2
		case strings.IndexByte("<>=!~", c) >= 0:
			j := i
			for j < len(s) && strings.IndexByte("<>=!~", s[j]) >= 0 {
				j++
			}
			op := s[i:j]
			switch op {
			case "<", "<=", ">", ">=", "==", "!=", "~=", "===":
			default:
				return nil, fmt.Errorf("unknown operator %q at offset %d", op, i)
			}
			toks = append(toks, markerToken{kind: "op", text: op})
			i = j
		case isAlnum(c) || c == '_' || c == '.':
			j := i
			for j < len(s) && (isAlnum(s[j]) || s[j] == '_' || s[j] == '.') {
				j++
			}
			toks = append(toks, markerToken{kind: "id", text: s[i:j]})
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q at offset %d", c, i)
		}
	}
	return append(toks, markerToken{kind: "end"}), nil
}

type markerParser struct {
	toks  []markerToken
	pos   int
	depth int
}

func (p *markerParser) peek() markerToken { return p.toks[p.pos] }
func (p *markerParser) next() markerToken {
	t := p.toks[p.pos]
	if t.kind != "end" {
		p.pos++
	}
	return t
}

func (p *markerParser) isWord(w string) bool {
	t := p.peek()
	return t.kind == "id" && t.text == w
}

func (p *markerParser) parseOr() (*markerNode, error) {
	return p.parseChain("or", p.parseAnd)
}

func (p *markerParser) parseAnd() (*markerNode, error) {
	return p.parseChain("and", p.parseExpr)
}

func (p *markerParser) parseChain(word string, sub func() (*markerNode, error)) (*markerNode, error) {
	n, err := sub()
	if err != nil {
		return nil, err
	}
	if !p.isWord(word) {
		return n, nil
	}
	chain := &markerNode{op: word, kids: []*markerNode{n}}
	for p.isWord(word) {
		p.next()
		k, err := sub()
		if err != nil {
			return nil, err
		}
		chain.kids = append(chain.kids, k)
	}
	return chain, nil
}

func (p *markerParser) parseExpr() (*markerNode, error) {
	if p.peek().kind == "(" {
		p.next()
		if p.depth++; p.depth > 100 {
			return nil, fmt.Errorf("parentheses nested too deeply")
		}
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.depth--
		if t := p.next(); t.kind != ")" {
			return nil, fmt.Errorf("expected ')', found %s", describeToken(t))
		}
		return n, nil
	}
	lhs, err := p.parseValue()
	if err != nil {
		return nil, err
	}
	var op string
	switch t := p.next(); {
	case t.kind == "op":
		op = t.text
	case t.kind == "id" && t.text == "in":
		op = "in"
	case t.kind == "id" && t.text == "not":
		if u := p.next(); u.kind != "id" || u.text != "in" {
			return nil, fmt.Errorf("expected 'in' after 'not', found %s", describeToken(u))
		}
		op = "not in"
	default:
		return nil, fmt.Errorf("expected a comparison operator, found %s", describeToken(t))
	}
	rhs, err := p.parseValue()
	if err != nil {
		return nil, err
	}
	return &markerNode{op: op, lhs: lhs, rhs: rhs}, nil
}

func describeToken(t markerToken) string {
	switch t.kind {
	case "end":
		return "the end of the marker"
	case "str":
		return fmt.Sprintf("string %q", t.text)
	case "id", "op":
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.kind)
}

func (p *markerParser) parseValue() (markerValue, error) {
	t := p.next()
	switch t.kind {
	case "str":
		return markerValue{value: t.text}, nil
	case "id":
		if name, ok := markerVars[t.text]; ok {
			return markerValue{name: name}, nil
		}
		return markerValue{}, fmt.Errorf("unknown marker variable %q", t.text)
	}
	return markerValue{}, fmt.Errorf("expected a marker variable or a quoted string, found %s", describeToken(t))
}

// parseMarker parses a PEP 508 marker expression.
func parseMarker(s string) (*markerNode, error) {
	toks, err := lexMarker(s)
	if err != nil {
		return nil, fmt.Errorf("parse marker %q: %w", s, err)
	}
	p := &markerParser{toks: toks}
	n, err := p.parseOr()
	if err == nil && p.peek().kind != "end" {
		err = fmt.Errorf("unexpected %s", describeToken(p.peek()))
	}
	if err != nil {
		return nil, fmt.Errorf("parse marker %q: %w", s, err)
	}
	return n, nil
}

// EvalMarker evaluates a PEP 508 marker in env (see Target.MarkerEnv).
// "extra" is compared, normalized, with each of extras and the marker holds
// if it holds for one of them; with no extras, extra is "". Variables that
// env lacks are "".
func EvalMarker(marker string, env map[string]string, extras []string) (bool, error) {
	n, err := parseMarker(marker)
	if err != nil {
		return false, err
	}
	if len(extras) == 0 {
		extras = []string{""}
	}
	for _, e := range extras {
		ok, err := n.eval(env, Normalize(e))
		if err != nil {
			return false, fmt.Errorf("evaluate marker %q: %w", marker, err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

func (n *markerNode) eval(env map[string]string, extra string) (bool, error) {
	switch n.op {
	case "and", "or":
		for _, k := range n.kids {
			ok, err := k.eval(env, extra)
			if err != nil {
				return false, err
			}
			if ok != (n.op == "and") {
				return ok, nil
			}
		}
		return n.op == "and", nil
	}
	lhs, rhs := n.lhs.value, n.rhs.value
	isExtra := n.lhs.name == "extra" || n.rhs.name == "extra"
	if n.lhs.name != "" {
		lhs = env[n.lhs.name]
	}
	if n.rhs.name != "" {
		rhs = env[n.rhs.name]
	}
	if isExtra {
		// Extras compare as normalized names.
		if n.lhs.name == "extra" {
			lhs, rhs = extra, Normalize(rhs)
		} else {
			lhs, rhs = Normalize(lhs), extra
		}
	}
	switch n.op {
	case "in":
		return strings.Contains(rhs, lhs), nil
	case "not in":
		return !strings.Contains(rhs, lhs), nil
	}
	if !isExtra {
		if clauses, err := parseSpecifier(n.op + rhs); err == nil {
			if _, ok := parseVersion(lhs); ok {
				return specContains(clauses, lhs)
			}
		}
	}
	switch n.op {
	case "==", "===":
		return lhs == rhs, nil
	case "!=":
		return lhs != rhs, nil
	case "<":
		return lhs < rhs, nil
	case "<=":
		return lhs <= rhs, nil
	case ">":
		return lhs > rhs, nil
	case ">=":
		return lhs >= rhs, nil
	}
	return false, fmt.Errorf("%q %s %q is not a version comparison", lhs, n.op, rhs)
}
