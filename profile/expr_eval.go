package profile

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

type node interface{}

type (
	litNode  struct{ v any }
	nameNode struct{ name string }
	attrNode struct {
		x    node
		name string
	}
	callNode struct {
		f    node
		args []node
	}
	indexNode struct{ x, idx node }
	sliceNode struct{ x, lo, hi, step node }
	unaryNode struct {
		op string
		x  node
	}
	binNode struct {
		op   string
		l, r node
	}
	boolNode struct {
		and   bool
		items []node
	}
	notNode     struct{ x node }
	compareNode struct {
		first node
		ops   []string
		rest  []node
	}
	tupleNode    struct{ items []node }
	listNode     struct{ items []node }
	listCompNode struct {
		elt   node
		vars  []string
		iter  node
		conds []node
	}
	ifNode struct{ body, cond, orelse node }
)

type exprParser struct {
	toks []token
	i    int
}

func (p *exprParser) peek() token { return p.toks[p.i] }
func (p *exprParser) next() token { t := p.toks[p.i]; p.i++; return t }
func (p *exprParser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tOp && t.text == s
}
func (p *exprParser) isKw(s string) bool {
	t := p.peek()
	return t.kind == tName && t.text == s
}
func (p *exprParser) expectOp(s string) error {
	if !p.isOp(s) {
		return p.errf("expected %q", s)
	}
	p.i++
	return nil
}
func (p *exprParser) errf(format string, args ...any) error {
	t := p.peek()
	what := t.text
	if t.kind == tEOF {
		what = "end of expression"
	}
	return fmt.Errorf("%w at %q: %s", errSyntax, what, fmt.Sprintf(format, args...))
}

var keywords = map[string]bool{"and": true, "or": true, "not": true, "in": true, "is": true, "if": true, "else": true, "for": true, "lambda": true}

func (p *exprParser) expr() (node, error) {
	body, err := p.orTest()
	if err != nil {
		return nil, err
	}
	if p.isKw("if") {
		p.i++
		cond, err := p.orTest()
		if err != nil {
			return nil, err
		}
		if !p.isKw("else") {
			return nil, p.errf("expected else")
		}
		p.i++
		orelse, err := p.expr()
		if err != nil {
			return nil, err
		}
		return ifNode{body, cond, orelse}, nil
	}
	return body, nil
}

func (p *exprParser) orTest() (node, error) { return p.boolChain("or", false, p.andTest) }

func (p *exprParser) andTest() (node, error) { return p.boolChain("and", true, p.notTest) }

// boolChain parses operands joined by the keyword kw ("or" / "and"), each
// parsed by next; one operand is returned as it is.
func (p *exprParser) boolChain(kw string, and bool, next func() (node, error)) (node, error) {
	x, err := next()
	if err != nil {
		return nil, err
	}
	items := []node{x}
	for p.isKw(kw) {
		p.i++
		y, err := next()
		if err != nil {
			return nil, err
		}
		items = append(items, y)
	}
	if len(items) == 1 {
		return x, nil
	}
	return boolNode{and: and, items: items}, nil
}

func (p *exprParser) notTest() (node, error) {
	if p.isKw("not") {
		p.i++
		x, err := p.notTest()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	return p.comparison()
}

func (p *exprParser) compOp() string {
	t := p.peek()
	if t.kind == tOp {
		switch t.text {
		case "==", "!=", "<", "<=", ">", ">=":
			p.i++
			return t.text
		}
	}
	if t.kind == tName {
		switch t.text {
		case "in":
			p.i++
			return "in"
		case "not":
			if n := p.toks[p.i+1]; n.kind == tName && n.text == "in" {
				p.i += 2
				return "not in"
			}
		case "is":
			p.i++
			if p.isKw("not") {
				p.i++
				return "is not"
			}
			return "is"
		}
	}
	return ""
}

func (p *exprParser) comparison() (node, error) {
	x, err := p.arith()
	if err != nil {
		return nil, err
	}
	var ops []string
	var rest []node
	for {
		op := p.compOp()
		if op == "" {
			break
		}
		y, err := p.arith()
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
		rest = append(rest, y)
	}
	if len(ops) == 0 {
		return x, nil
	}
	return compareNode{x, ops, rest}, nil
}

func (p *exprParser) arith() (node, error) {
	x, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.isOp("+") || p.isOp("-") {
		op := p.next().text
		y, err := p.term()
		if err != nil {
			return nil, err
		}
		x = binNode{op, x, y}
	}
	return x, nil
}

func (p *exprParser) term() (node, error) {
	x, err := p.factor()
	if err != nil {
		return nil, err
	}
	for p.isOp("*") || p.isOp("%") || p.isOp("//") || p.isOp("/") {
		op := p.next().text
		y, err := p.factor()
		if err != nil {
			return nil, err
		}
		x = binNode{op, x, y}
	}
	return x, nil
}

func (p *exprParser) factor() (node, error) {
	if p.isOp("-") || p.isOp("+") || p.isOp("~") {
		op := p.next().text
		x, err := p.factor()
		if err != nil {
			return nil, err
		}
		return unaryNode{op, x}, nil
	}
	return p.power()
}

func (p *exprParser) power() (node, error) {
	x, err := p.atom()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			p.i++
			t := p.next()
			if t.kind != tName {
				p.i--
				return nil, p.errf("expected an attribute name")
			}
			x = attrNode{x, t.text}
		case p.isOp("("):
			p.i++
			var args []node
			for !p.isOp(")") {
				a, err := p.expr()
				if err != nil {
					return nil, err
				}
				args = append(args, a)
				if !p.isOp(",") {
					break
				}
				p.i++
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			x = callNode{x, args}
		case p.isOp("["):
			p.i++
			var lo, hi, step node
			isSlice := false
			if !p.isOp(":") {
				if lo, err = p.expr(); err != nil {
					return nil, err
				}
			}
			if p.isOp(":") {
				isSlice = true
				p.i++
				if !p.isOp("]") && !p.isOp(":") {
					if hi, err = p.expr(); err != nil {
						return nil, err
					}
				}
				if p.isOp(":") {
					p.i++
					if !p.isOp("]") {
						if step, err = p.expr(); err != nil {
							return nil, err
						}
					}
				}
			}
			if err := p.expectOp("]"); err != nil {
				return nil, err
			}
			if isSlice {
				x = sliceNode{x, lo, hi, step}
			} else {
				x = indexNode{x, lo}
			}
		default:
			return x, nil
		}
	}
}

func (p *exprParser) atom() (node, error) {
	t := p.peek()
	switch t.kind {
	case tName:
		if keywords[t.text] {
			return nil, p.errf("unexpected keyword")
		}
		p.i++
		return nameNode{t.text}, nil
	case tNum:
		p.i++
		return litNode{t.num}, nil
	case tStr:
		p.i++
		s := t.text
		for p.peek().kind == tStr {
			s += p.next().text
		}
		return litNode{s}, nil
	case tOp:
		switch t.text {
		case "(":
			p.i++
			if p.isOp(")") {
				p.i++
				return tupleNode{}, nil
			}
			x, err := p.expr()
			if err != nil {
				return nil, err
			}
			if p.isOp(")") {
				p.i++
				return x, nil
			}
			items := []node{x}
			for p.isOp(",") {
				p.i++
				if p.isOp(")") {
					break
				}
				y, err := p.expr()
				if err != nil {
					return nil, err
				}
				items = append(items, y)
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return tupleNode{items}, nil
		case "[":
			p.i++
			return p.listDisplay()
		}
	}
	return nil, p.errf("unexpected token")
}

// listDisplay parses what follows "[": a list or a list comprehension.
func (p *exprParser) listDisplay() (node, error) {
	if p.isOp("]") {
		p.i++
		return listNode{}, nil
	}
	first, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.isKw("for") {
		p.i++
		var vars []string
		for {
			t := p.next()
			if t.kind != tName || keywords[t.text] {
				p.i--
				return nil, p.errf("expected a loop variable")
			}
			vars = append(vars, t.text)
			if !p.isOp(",") {
				break
			}
			p.i++
		}
		if !p.isKw("in") {
			return nil, p.errf("expected in")
		}
		p.i++
		iter, err := p.orTest()
		if err != nil {
			return nil, err
		}
		var conds []node
		for p.isKw("if") {
			p.i++
			c, err := p.orTest()
			if err != nil {
				return nil, err
			}
			conds = append(conds, c)
		}
		if err := p.expectOp("]"); err != nil {
			return nil, err
		}
		return listCompNode{first, vars, iter, conds}, nil
	}
	items := []node{first}
	for p.isOp(",") {
		p.i++
		if p.isOp("]") {
			break
		}
		y, err := p.expr()
		if err != nil {
			return nil, err
		}
		items = append(items, y)
	}
	if err := p.expectOp("]"); err != nil {
		return nil, err
	}
	return listNode{items}, nil
}

// ---- evaluation ----

type scope struct {
	globals map[string]any
	locals  map[string]any
}

func (sc *scope) lookup(name string) (any, error) {
	if v, ok := sc.locals[name]; ok {
		return v, nil
	}
	if v, ok := sc.globals[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("NameError: name %q is not defined", name)
}

func eval(n node, sc *scope) (any, error) {
	switch x := n.(type) {
	case litNode:
		return x.v, nil
	case nameNode:
		return sc.lookup(x.name)
	case attrNode:
		obj, err := eval(x.x, sc)
		if err != nil {
			return nil, err
		}
		return getAttr(obj, x.name)
	case callNode:
		f, err := eval(x.f, sc)
		if err != nil {
			return nil, err
		}
		args := make([]any, len(x.args))
		for i, a := range x.args {
			if args[i], err = eval(a, sc); err != nil {
				return nil, err
			}
		}
		fn, ok := f.(pyFunc)
		if !ok {
			return nil, fmt.Errorf("TypeError: %s object is not callable", typeName(f))
		}
		return fn(args)
	case indexNode:
		obj, err := eval(x.x, sc)
		if err != nil {
			return nil, err
		}
		idx, err := eval(x.idx, sc)
		if err != nil {
			return nil, err
		}
		return getItem(obj, idx)
	case sliceNode:
		obj, err := eval(x.x, sc)
		if err != nil {
			return nil, err
		}
		var bounds [3]any
		for i, b := range []node{x.lo, x.hi, x.step} {
			if b == nil {
				bounds[i] = pyNone
				continue
			}
			if bounds[i], err = eval(b, sc); err != nil {
				return nil, err
			}
		}
		return getSlice(obj, bounds)
	case unaryNode:
		v, err := eval(x.x, sc)
		if err != nil {
			return nil, err
		}
		n, ok := asInt(v)
		if !ok {
			return nil, fmt.Errorf("TypeError: bad operand type for unary %s: %s", x.op, typeName(v))
		}
		switch x.op {
		case "-":
			return -n, nil
		case "~":
			return ^n, nil
		}
		return n, nil
	case binNode:
		l, err := eval(x.l, sc)
		if err != nil {
			return nil, err
		}
		r, err := eval(x.r, sc)
		if err != nil {
			return nil, err
		}
		return binOp(x.op, l, r)
	case boolNode:
		var v any
		for _, it := range x.items {
			var err error
			if v, err = eval(it, sc); err != nil {
				return nil, err
			}
			if truthy(v) != x.and {
				return v, nil
			}
		}
		return v, nil
	case notNode:
		v, err := eval(x.x, sc)
		if err != nil {
			return nil, err
		}
		return !truthy(v), nil
	case compareNode:
		l, err := eval(x.first, sc)
		if err != nil {
			return nil, err
		}
		for i, op := range x.ops {
			r, err := eval(x.rest[i], sc)
			if err != nil {
				return nil, err
			}
			ok, err := compare(op, l, r)
			if err != nil {
				return nil, err
			}
			if !ok {
				return false, nil
			}
			l = r
		}
		return true, nil
	case tupleNode:
		out := make(pyTuple, len(x.items))
		for i, it := range x.items {
			v, err := eval(it, sc)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case listNode:
		out := make([]any, len(x.items))
		for i, it := range x.items {
			v, err := eval(it, sc)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case listCompNode:
		itv, err := eval(x.iter, sc)
		if err != nil {
			return nil, err
		}
		items, err := iterate([]any{itv}, "iter")
		if err != nil {
			return nil, err
		}
		locals := map[string]any{}
		for k, v := range sc.locals {
			locals[k] = v
		}
		inner := &scope{globals: sc.globals, locals: locals}
		out := []any{}
	items:
		for _, it := range items {
			if len(x.vars) == 1 {
				locals[x.vars[0]] = it
			} else {
				parts, err := iterate([]any{it}, "unpack")
				if err != nil {
					return nil, err
				}
				if len(parts) != len(x.vars) {
					return nil, errors.New("ValueError: cannot unpack")
				}
				for i, v := range x.vars {
					locals[v] = parts[i]
				}
			}
			for _, c := range x.conds {
				cv, err := eval(c, inner)
				if err != nil {
					return nil, err
				}
				if !truthy(cv) {
					continue items
				}
			}
			v, err := eval(x.elt, inner)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case ifNode:
		c, err := eval(x.cond, sc)
		if err != nil {
			return nil, err
		}
		if truthy(c) {
			return eval(x.body, sc)
		}
		return eval(x.orelse, sc)
	}
	return nil, fmt.Errorf("internal error: node %T", n)
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func getAttr(obj any, name string) (any, error) {
	switch o := obj.(type) {
	case *pyModule:
		if v, ok := o.attrs[name]; ok {
			return v, nil
		}
		if o.name == "sys" && name == "version_info" {
			break
		}
		return nil, fmt.Errorf("AttributeError: %s has no attribute %q (not supported by hbuild)", o.name, name)
	case pyTuple:
		// sys.version_info fields.
		if len(o) == 5 {
			switch name {
			case "major":
				return o[0], nil
			case "minor":
				return o[1], nil
			case "micro":
				return o[2], nil
			case "releaselevel":
				return o[3], nil
			case "serial":
				return o[4], nil
			}
		}
	case string:
		if m := stringMethod(o, name); m != nil {
			return m, nil
		}
	case map[string]any:
		switch name {
		case "get":
			return pyFunc(func(a []any) (any, error) {
				k, err := strArg(a, 0)
				if err != nil {
					return nil, err
				}
				if v, ok := o[k]; ok {
					return v, nil
				}
				if len(a) > 1 {
					return a[1], nil
				}
				return pyNone, nil
			}), nil
		case "keys":
			return fn0(func() any { v, _ := iterate([]any{o}, "keys"); return v }), nil
		}
	case *pyFile:
		if name == "read" {
			return fn0(func() any {
				b, _ := readFileString(o.path)
				return b
			}), nil
		}
	}
	return nil, fmt.Errorf("AttributeError: %s object has no attribute %q", typeName(obj), name)
}

func stringMethod(s, name string) pyFunc {
	switch name {
	case "startswith", "endswith":
		return func(a []any) (any, error) {
			var prefixes []string
			if len(a) != 1 {
				return nil, errors.New("TypeError: takes one argument here")
			}
			switch p := a[0].(type) {
			case string:
				prefixes = []string{p}
			case pyTuple:
				for _, e := range p {
					ps, ok := e.(string)
					if !ok {
						return nil, errors.New("TypeError: expected str")
					}
					prefixes = append(prefixes, ps)
				}
			default:
				return nil, errors.New("TypeError: expected str or tuple")
			}
			for _, p := range prefixes {
				if name == "startswith" && strings.HasPrefix(s, p) || name == "endswith" && strings.HasSuffix(s, p) {
					return true, nil
				}
			}
			return false, nil
		}
	case "lower":
		return fn0(func() any { return strings.ToLower(s) })
	case "upper":
		return fn0(func() any { return strings.ToUpper(s) })
	case "strip":
		return fn0(func() any { return pyStrip(s) })
	case "isdigit":
		return fn0(func() any {
			if s == "" {
				return false
			}
			for _, r := range s {
				if r < '0' || r > '9' {
					return false
				}
			}
			return true
		})
	case "split":
		return func(a []any) (any, error) {
			var parts []string
			switch len(a) {
			case 0:
				parts = strings.FieldsFunc(s, isSpace)
			case 1, 2:
				sep, err := strArg(a, 0)
				if err != nil {
					return nil, err
				}
				if sep == "" {
					return nil, errors.New("ValueError: empty separator")
				}
				n := -1
				if len(a) == 2 {
					m, ok := a[1].(int64)
					if !ok {
						return nil, errors.New("TypeError: maxsplit must be int")
					}
					if m >= 0 {
						n = int(m) + 1
					}
				}
				parts = strings.SplitN(s, sep, n)
			default:
				return nil, errors.New("TypeError: split() takes at most 2 arguments")
			}
			out := make([]any, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return out, nil
		}
	case "replace":
		return func(a []any) (any, error) {
			o, err := strArg(a, 0)
			if err != nil {
				return nil, err
			}
			n, err := strArg(a, 1)
			if err != nil {
				return nil, err
			}
			return strings.ReplaceAll(s, o, n), nil
		}
	case "find":
		return func(a []any) (any, error) {
			sub, err := strArg(a, 0)
			if err != nil {
				return nil, err
			}
			i := strings.Index(s, sub)
			if i < 0 {
				return int64(-1), nil
			}
			return int64(len([]rune(s[:i]))), nil
		}
	case "join":
		return func(a []any) (any, error) {
			items, err := iterate(a, "join")
			if err != nil {
				return nil, err
			}
			parts := make([]string, len(items))
			for i, it := range items {
				str, ok := it.(string)
				if !ok {
					return nil, errors.New("TypeError: sequence item is not a str")
				}
				parts[i] = str
			}
			return strings.Join(parts, s), nil
		}
	}
	return nil
}

func normIndex(i int64, n int) (int, bool) {
	if i < 0 {
		i += int64(n)
	}
	if i < 0 || i >= int64(n) {
		return 0, false
	}
	return int(i), true
}

func getItem(obj, idx any) (any, error) {
	switch o := obj.(type) {
	case map[string]any:
		k, ok := idx.(string)
		if !ok {
			return nil, fmt.Errorf("KeyError: %s", pyRepr(idx))
		}
		v, ok := o[k]
		if !ok {
			return nil, fmt.Errorf("KeyError: %s", pyRepr(idx))
		}
		return v, nil
	case pyTuple, []any, string:
		i, ok := asInt(idx)
		if !ok {
			return nil, fmt.Errorf("TypeError: indices must be integers, not %s", typeName(idx))
		}
		switch s := o.(type) {
		case pyTuple:
			j, ok := normIndex(i, len(s))
			if !ok {
				return nil, errors.New("IndexError: tuple index out of range")
			}
			return s[j], nil
		case []any:
			j, ok := normIndex(i, len(s))
			if !ok {
				return nil, errors.New("IndexError: list index out of range")
			}
			return s[j], nil
		case string:
			r := []rune(s)
			j, ok := normIndex(i, len(r))
			if !ok {
				return nil, errors.New("IndexError: string index out of range")
			}
			return string(r[j]), nil
		}
	}
	return nil, fmt.Errorf("TypeError: %s object is not subscriptable", typeName(obj))
}

func getSlice(obj any, b [3]any) (any, error) {
	var n int
	switch o := obj.(type) {
	case pyTuple:
		n = len(o)
	case []any:
		n = len(o)
	case string:
		n = len([]rune(o))
	default:
		return nil, fmt.Errorf("TypeError: %s object is not subscriptable", typeName(obj))
	}
	step := int64(1)
	if b[2] != pyNone {
		s, ok := asInt(b[2])
		if !ok || s == 0 {
			return nil, errors.New("ValueError: bad slice step")
		}
		step = s
	}
	bound := func(v any, def int64) (int64, error) {
		if v == pyNone {
			return def, nil
		}
		i, ok := asInt(v)
		if !ok {
			return 0, errors.New("TypeError: slice indices must be integers")
		}
		if i < 0 {
			i += int64(n)
			if i < 0 {
				if step < 0 {
					i = -1
				} else {
					i = 0
				}
			}
		} else if i >= int64(n) {
			if step < 0 {
				i = int64(n) - 1
			} else {
				i = int64(n)
			}
		}
		return i, nil
	}
	var lo, hi int64
	var err error
	if step > 0 {
		if lo, err = bound(b[0], 0); err != nil {
			return nil, err
		}
		if hi, err = bound(b[1], int64(n)); err != nil {
			return nil, err
		}
	} else {
		if lo, err = bound(b[0], int64(n)-1); err != nil {
			return nil, err
		}
		if hi, err = bound(b[1], -1); err != nil {
			return nil, err
		}
	}
	var idx []int
	for i := lo; (step > 0 && i < hi) || (step < 0 && i > hi); i += step {
		idx = append(idx, int(i))
	}
	switch o := obj.(type) {
	case pyTuple:
		out := make(pyTuple, len(idx))
		for k, i := range idx {
			out[k] = o[i]
		}
		return out, nil
	case []any:
		out := make([]any, len(idx))
		for k, i := range idx {
			out[k] = o[i]
		}
		return out, nil
	default:
		r := []rune(obj.(string))
		out := make([]rune, len(idx))
		for k, i := range idx {
			out[k] = r[i]
		}
		return string(out), nil
	}
}

func binOp(op string, l, r any) (any, error) {
	if li, ok := asInt(l); ok {
		if ri, ok := asInt(r); ok {
			switch op {
			case "+":
				return li + ri, nil
			case "-":
				return li - ri, nil
			case "*":
				return li * ri, nil
			case "//", "%":
				if ri == 0 {
					return nil, errors.New("ZeroDivisionError")
				}
				q, m := li/ri, li%ri
				if m != 0 && (m < 0) != (ri < 0) {
					q--
					m += ri
				}
				if op == "//" {
					return q, nil
				}
				return m, nil
			case "/":
				if ri == 0 {
					return nil, errors.New("ZeroDivisionError")
				}
				return float64(li) / float64(ri), nil
			}
		}
	}
	switch a := l.(type) {
	case string:
		if b, ok := r.(string); ok && op == "+" {
			return a + b, nil
		}
		if n, ok := r.(int64); ok && op == "*" {
			if n < 0 {
				n = 0
			}
			if n > 0 && int64(len(a)) > (1<<20)/n {
				return nil, errors.New("MemoryError: string too long")
			}
			return strings.Repeat(a, int(n)), nil
		}
	case pyTuple:
		if b, ok := r.(pyTuple); ok && op == "+" {
			return append(append(pyTuple{}, a...), b...), nil
		}
	case []any:
		if b, ok := r.([]any); ok && op == "+" {
			return append(append([]any{}, a...), b...), nil
		}
	}
	return nil, fmt.Errorf("TypeError: unsupported operand type(s) for %s: %s and %s", op, typeName(l), typeName(r))
}

func pyEqual(a, b any) bool {
	if ai, ok := asInt(a); ok {
		if bi, ok := asInt(b); ok {
			return ai == bi
		}
		if bf, ok := b.(float64); ok {
			return float64(ai) == bf
		}
		return false
	}
	switch x := a.(type) {
	case float64:
		if bi, ok := asInt(b); ok {
			return x == float64(bi)
		}
		bf, ok := b.(float64)
		return ok && x == bf
	case string:
		y, ok := b.(string)
		return ok && x == y
	case pyNoneType:
		_, ok := b.(pyNoneType)
		return ok
	case pyTuple:
		y, ok := b.(pyTuple)
		return ok && seqEqual(x, y)
	case []any:
		y, ok := b.([]any)
		return ok && seqEqual(x, y)
	}
	return a == b
}

func seqEqual(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !pyEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// pyLess orders two values as Python's < does, or fails with a TypeError.
func pyCmp(a, b any) (int, error) {
	if ai, ok := asInt(a); ok {
		if bi, ok := asInt(b); ok {
			switch {
			case ai < bi:
				return -1, nil
			case ai > bi:
				return 1, nil
			}
			return 0, nil
		}
	}
	af, aok := toFloat(a)
	bf, bok := toFloat(b)
	if aok && bok {
		switch {
		case af < bf:
			return -1, nil
		case af > bf:
			return 1, nil
		}
		return 0, nil
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), nil
		}
	case pyTuple:
		if y, ok := b.(pyTuple); ok {
			return seqCmp(x, y)
		}
	case []any:
		if y, ok := b.([]any); ok {
			return seqCmp(x, y)
		}
	}
	return 0, fmt.Errorf("TypeError: '<' not supported between instances of %s and %s", typeName(a), typeName(b))
}

func toFloat(v any) (float64, bool) {
	if i, ok := asInt(v); ok {
		return float64(i), true
	}
	f, ok := v.(float64)
	return f, ok
}

func seqCmp(a, b []any) (int, error) {
	for i := 0; i < len(a) && i < len(b); i++ {
		if pyEqual(a[i], b[i]) {
			continue
		}
		return pyCmp(a[i], b[i])
	}
	switch {
	case len(a) < len(b):
		return -1, nil
	case len(a) > len(b):
		return 1, nil
	}
	return 0, nil
}

func compare(op string, l, r any) (bool, error) {
	switch op {
	case "==":
		return pyEqual(l, r), nil
	case "!=":
		return !pyEqual(l, r), nil
	case "is":
		return pyIs(l, r), nil
	case "is not":
		return !pyIs(l, r), nil
	case "in", "not in":
		in, err := contains(r, l)
		if err != nil {
			return false, err
		}
		return in == (op == "in"), nil
	}
	c, err := pyCmp(l, r)
	if err != nil {
		return false, err
	}
	switch op {
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	}
	return c >= 0, nil
}

func pyIs(a, b any) bool {
	switch a.(type) {
	case pyNoneType, bool:
		return a == b
	}
	return false
}

func contains(container, item any) (bool, error) {
	switch c := container.(type) {
	case string:
		s, ok := item.(string)
		if !ok {
			return false, errors.New("TypeError: 'in <string>' requires string as left operand")
		}
		return strings.Contains(c, s), nil
	case pyTuple:
		for _, e := range c {
			if pyEqual(e, item) {
				return true, nil
			}
		}
		return false, nil
	case []any:
		for _, e := range c {
			if pyEqual(e, item) {
				return true, nil
			}
		}
		return false, nil
	case map[string]any:
		s, ok := item.(string)
		if !ok {
			return false, nil
		}
		_, in := c[s]
		return in, nil
	}
	return false, fmt.Errorf("TypeError: argument of type %s is not iterable", typeName(container))
}

// ---- PEP 508 markers ----

var markerVars = map[string]func() string{
	"python_version":                 func() string { return strconv.Itoa(targetPythonMajor) + "." + strconv.Itoa(targetPythonMinor) },
	"python_full_version":            func() string { return targetPythonVersion },
	"os_name":                        func() string { return "posix" },
	"sys_platform":                   func() string { return "linux" },
	"platform_release":               hostRelease,
	"platform_system":                func() string { return "Linux" },
	"platform_version":               func() string { return "" },
	"platform_machine":               machine,
	"platform_python_implementation": func() string { return "CPython" },
	"implementation_name":            func() string { return "cpython" },
	"implementation_version":         func() string { return targetPythonVersion },
	"extra":                          func() string { return "" },
}

type markerParser struct {
	toks []token
	i    int
}

var errNotMarker = errors.New("not a marker")

func (m *markerParser) peekOp(s string) bool {
	t := m.toks[m.i]
	return t.kind == tOp && t.text == s
}

func (m *markerParser) or() (bool, error) {
	v, err := m.and()
	if err != nil {
		return false, err
	}
	for t := m.toks[m.i]; t.kind == tName && t.text == "or"; t = m.toks[m.i] {
		m.i++
		w, err := m.and()
		if err != nil {
			return false, err
		}
		v = v || w
	}
	return v, nil
}

func (m *markerParser) and() (bool, error) {
	v, err := m.atom()
	if err != nil {
		return false, err
	}
	for t := m.toks[m.i]; t.kind == tName && t.text == "and"; t = m.toks[m.i] {
		m.i++
		w, err := m.atom()
		if err != nil {
			return false, err
		}
		v = v && w
	}
	return v, nil
}

func (m *markerParser) value() (string, bool, error) {
	t := m.toks[m.i]
	switch t.kind {
	case tStr:
		m.i++
		return t.text, false, nil
	case tName:
		if f, ok := markerVars[t.text]; ok {
			m.i++
			return f(), true, nil
		}
	}
	return "", false, errNotMarker
}

func (m *markerParser) atom() (bool, error) {
	if m.peekOp("(") {
		m.i++
		v, err := m.or()
		if err != nil {
			return false, err
		}
		if !m.peekOp(")") {
			return false, errNotMarker
		}
		m.i++
		return v, nil
	}
	l, lvar, err := m.value()
	if err != nil {
		return false, err
	}
	t := m.toks[m.i]
	op := ""
	switch {
	case t.kind == tOp && (t.text == "<" || t.text == "<=" || t.text == "==" || t.text == "!=" || t.text == ">" || t.text == ">=" || t.text == "===" || t.text == "~="):
		op = t.text
		m.i++
	case t.kind == tName && t.text == "in":
		op = "in"
		m.i++
	case t.kind == tName && t.text == "not" && m.toks[m.i+1].kind == tName && m.toks[m.i+1].text == "in":
		op = "not in"
		m.i += 2
	default:
		return false, errNotMarker
	}
	r, rvar, err := m.value()
	if err != nil {
		return false, err
	}
	if !lvar && !rvar {
		return false, errNotMarker
	}
	switch op {
	case "in":
		return strings.Contains(r, l), nil
	case "not in":
		return !strings.Contains(r, l), nil
	case "===":
		return l == r, nil
	case "~=":
		lv, lok := parseVersion(l)
		rv, rok := parseVersion(r)
		if !lok || !rok || len(rv) < 2 {
			return false, errNotMarker
		}
		return versionCmp(lv, rv) >= 0 && versionPrefixCmp(lv, rv[:len(rv)-1]) == 0, nil
	}
	if lv, ok := parseVersion(l); ok {
		if rv, ok := parseVersion(r); ok {
			c := versionCmp(lv, rv)
			if op == "==" && strings.HasSuffix(r, ".*") {
				c = versionPrefixCmp(lv, rv)
			}
			return cmpResult(op, c), nil
		}
	}
	return cmpResult(op, strings.Compare(l, r)), nil
}

func cmpResult(op string, c int) bool {
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case ">":
		return c > 0
	}
	return c >= 0
}

func parseVersion(s string) ([]int, bool) {
	s = strings.TrimSuffix(s, ".*")
	if s == "" {
		return nil, false
	}
	var out []int
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

func versionCmp(a, b []int) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func versionPrefixCmp(a, prefix []int) int {
	if len(a) > len(prefix) {
		a = a[:len(prefix)]
	}
	return versionCmp(a, prefix)
}

// evalCondition evaluates a conditional section expression: a PEP 508
// marker if it is one, else Python (wrapped in a list, element 0, as
// zc.buildout does).
func evalCondition(expr string, globals map[string]any) (bool, error) {
	toks, err := tokenize(expr)
	if err == nil {
		mp := &markerParser{toks: toks}
		if v, err := mp.or(); err == nil && mp.toks[mp.i].kind == tEOF {
			return v, nil
		}
	}
	toks, err = tokenize("[" + expr + "]")
	if err != nil {
		return false, err
	}
	p := &exprParser{toks: toks}
	if err := p.expectOp("["); err != nil {
		return false, err
	}
	n, err := p.listDisplay()
	if err != nil {
		return false, err
	}
	if p.peek().kind != tEOF {
		return false, p.errf("unexpected text after the expression")
	}
	v, err := eval(n, &scope{globals: globals})
	if err != nil {
		return false, err
	}
	l, _ := v.([]any)
	if len(l) == 0 {
		return false, errors.New("IndexError: list index out of range (empty condition)")
	}
	return truthy(l[0]), nil
}
