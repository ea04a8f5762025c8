package profile

import (
	"sort"
	"strings"
	"unsafe"
)

// Origin kinds.
const (
	KindFile         = "file"          // a profile file (File, Line)
	KindUserDefaults = "user defaults" // the user defaults file or a file it extends (File, Line)
	KindDefault      = "default"       // zc.buildout's built-in [buildout] and [versions] defaults
	KindComputed     = "computed"      // computed by the loader (buildout:directory)
	KindCommandLine  = "command line"  // LoadOptions.Overrides
	KindImplicit     = "implicit"      // the empty start of `+=`/`-=` on a missing option
)

// Origin operations.
const (
	OpSet       = ""          // the value was set
	OpAdd       = "+="        // lines appended
	OpRemove    = "-="        // lines removed
	OpOverride  = "override"  // replaced a value set earlier (in a base file, defaults...)
	OpMacro     = "<="        // inherited through a `<=` macro (Text names the macro section)
	OpDirectory = "directory" // made absolute by the loader (download-cache, eggs-directory, extends-cache)
)

// Value is a merged, unsubstituted option value and its history, oldest
// first, exactly as zc.buildout records it for annotate.
type Value struct {
	Raw     string
	Origins []Origin

	// While loading, the history is a chain (each step points to the value
	// before it) so that += and overrides cost O(1); Origins is filled in
	// for the values a Profile hands out.
	o    Origin
	prev *Value
	n    int32
}

// Origin is one step of a value's history: where it happened (File and Line
// for files, else Kind says which pseudo source) and what it did (Op, with
// Text the operand: the value set, the lines added or removed).
type Origin struct {
	File string
	Line int
	Kind string
	Op   string
	Text string
}

// Source is the origin's source as zc.buildout's annotate prints it: the
// file, or DEFAULT_VALUE, COMPUTED_VALUE, COMMAND_LINE_VALUE,
// IMPLICIT_VALUE.
func (o Origin) Source() string {
	switch o.Kind {
	case KindFile, KindUserDefaults:
		return o.File
	case KindDefault:
		return "DEFAULT_VALUE"
	case KindComputed:
		return "COMPUTED_VALUE"
	case KindCommandLine:
		return "COMMAND_LINE_VALUE"
	case KindImplicit:
		return "IMPLICIT_VALUE"
	}
	return o.File
}

// historyOp is the zc.buildout history operation name of an origin.
func (o Origin) historyOp() string {
	switch o.Op {
	case OpAdd:
		return "ADD"
	case OpRemove:
		return "REMOVE"
	case OpOverride:
		return "OVERRIDE"
	case OpDirectory:
		return "DIRECTORY"
	}
	return "SET"
}

func newValue(raw string, o Origin) *Value {
	o.Text = raw
	return &Value{Raw: raw, o: o, n: 1}
}

func (v *Value) last() Origin { return v.o }

// with returns v with one more history entry (v is not modified).
func (v *Value) with(raw string, o Origin) *Value {
	return &Value{Raw: raw, o: o, prev: v, n: v.n + 1}
}

// history returns the origins, oldest first.
func (v *Value) history() []Origin {
	out := make([]Origin, v.n)
	i := int(v.n) - 1
	for x := v; x != nil && i >= 0; x = x.prev {
		out[i] = x.o
		i--
	}
	return out
}

// materialize fills in Origins.
func (v *Value) materialize() {
	if v.Origins == nil {
		v.Origins = v.history()
	}
}

// add appends the lines of op (an operator value) to v.
func (v *Value) add(op *Value) *Value {
	o := op.last()
	o.Op = OpAdd
	o.Text = op.Raw
	return v.with(v.Raw+"\n"+op.Raw, o)
}

// remove removes from v every line equal to a line of op.
func (v *Value) remove(op *Value) *Value {
	o := op.last()
	o.Op = OpRemove
	o.Text = op.Raw
	drop := strings.Split(op.Raw, "\n")
	lines := strings.Split(v.Raw, "\n")
	kept := lines[:0:0]
	for _, l := range lines {
		found := false
		for _, d := range drop {
			if l == d {
				found = true
				break
			}
		}
		if !found {
			kept = append(kept, l)
		}
	}
	return v.with(strings.Join(kept, "\n"), o)
}

// override is zc.buildout's SectionKey.overrideValue: v1 takes v2's value
// and records an override unless v2's last step was an operator.
func override(v1, v2 *Value) *Value {
	if lo := v2.last().Op; lo == OpAdd || lo == OpRemove {
		return &Value{Raw: v2.Raw, o: v1.o, prev: v1.prev, n: v1.n}
	}
	o := v2.last()
	o.Op = OpOverride
	o.Text = v2.Raw
	return v1.with(v2.Raw, o)
}

type section map[string]*Value

type data map[string]section

// opBase returns the option an operator key acts on and the operator, or
// "" for a plain key.
func opBase(key string) (string, byte) {
	if key == "" {
		return "", 0
	}
	switch key[len(key)-1] {
	case '+':
		return strings.TrimRight(key, " +"), '+'
	case '-':
		return strings.TrimRight(key, " -"), '-'
	}
	return "", 0
}

// opSortKey is zc.buildout's sort key for merging: (key.rstrip(" +"), last char).
func opSortLess(a, b string) bool {
	ka, kb := strings.TrimRight(a, " +"), strings.TrimRight(b, " +")
	if ka != kb {
		return ka < kb
	}
	return a[len(a)-1] < b[len(b)-1]
}

// mergeHook is told about operators zc.buildout resolves silently: `-=`
// (op '-') or `+=` (op '+') on an option that does not exist.
// sec is the section.
type mergeHook func(sec, key string, op *Value, operator byte)

// mergeSection is zc.buildout's _update_section(s1, s2): s2's operators are
// resolved (against s2's own plain value first, then s1's, then ""), then
// s2's values override s1's. Neither argument is modified.
func mergeSection(sec string, s1, s2 section, hook mergeHook) section {
	return mergeSectionMode(sec, s1, s2, hook, false)
}

// mergeSectionMode is mergeSection; with plain set, a plain value of s2
// replaces s1's without recording an override (macro expansion, where
// zc.buildout keeps no history).
func mergeSectionMode(sec string, s1, s2 section, hook mergeHook, plain bool) section {
	if !plain && len(s2) <= len(s1) {
		// The common case of diamonds: s2 adds nothing to s1.
		same := true
		for k, v := range s2 {
			if s1[k] != v {
				same = false
				break
			}
			if _, op := opBase(k); op != 0 {
				same = false
				break
			}
		}
		if same {
			return s1
		}
	}
	var opsBuf [8]string
	ops := opsBuf[:0]
	for k := range s2 {
		if _, o := opBase(k); o != 0 {
			ops = append(ops, k)
		}
	}
	// Operators first (s2 is never modified: it is its own snapshot).
	type resolved struct {
		name     string
		v        *Value
		fromBase bool
	}
	var resBuf [8]resolved
	res := resBuf[:0]
	if len(ops) > 1 {
		sortStrings(ops, opSortLess)
	}
	for _, k := range ops {
		name, o := opBase(k)
		v := s2[k]
		idx := -1
		for i := range res {
			if res[i].name == name {
				idx = i
				break
			}
		}
		var start *Value
		base := false
		switch {
		case idx >= 0:
			start = res[idx].v
		default:
			var ok bool
			if start, ok = s2[name]; !ok {
				if start, ok = s1[name]; ok {
					base = true
				} else {
					if hook != nil {
						hook(sec, k, v, o)
					}
					start = newValue("", Origin{Kind: KindImplicit})
				}
			}
		}
		if o == '+' {
			start = start.add(v)
		} else {
			start = start.remove(v)
		}
		if idx >= 0 {
			res[idx].v = start
			res[idx].fromBase = res[idx].fromBase || base
		} else {
			res = append(res, resolved{name, start, base})
		}
	}
	out := make(section, len(s1)+len(s2))
	for k, v := range s1 {
		out[k] = v
	}
	put := func(k string, v2 *Value, fromBase bool) {
		if v1, ok := out[k]; ok && !fromBase && !plain && v1 != v2 {
			out[k] = override(v1, v2)
		} else {
			out[k] = v2
		}
	}
	for k, v2 := range s2 {
		if _, o := opBase(k); o != 0 {
			continue
		}
		skip := false
		for i := range res {
			if res[i].name == k {
				skip = true
				break
			}
		}
		if !skip {
			put(k, v2, false)
		}
	}
	for _, r := range res {
		put(r.name, r.v, r.fromBase)
	}
	return out
}

// mergeData is zc.buildout's _update(d1, d2): d1 (owned by the caller) gets
// d2's sections merged in. Sections are shared, never modified.
//
// A diamond merges a section with itself (both sides come from the same
// memoised file): when it has no operator keys that changes nothing but
// zc.buildout's history, which would record an OVERRIDE by the same source,
// so it is skipped.
func mergeData(d1, d2 data, hook mergeHook) {
	for name, s2 := range d2 {
		if s1, ok := d1[name]; ok {
			if sameSection(s1, s2) {
				continue
			}
			d1[name] = mergeSection(name, s1, s2, hook)
		} else {
			d1[name] = s2
		}
	}
}

// mergeDataFlat is zc.buildout HEAD's _update(d1, d2) (the flattened
// merge, spec §5.4): mergeData, except that a section new to d1 without a
// `<` key has its operators on options it does not set turned into plain
// assignments (`x += v` is `x = v`, `x -= v` is `x = ""`) before it is
// normalised with mergeSection({}, s).
func mergeDataFlat(d1, d2 data, hook mergeHook) {
	for name, s2 := range d2 {
		if s1, ok := d1[name]; ok {
			if sameSection(s1, s2) {
				continue
			}
			d1[name] = mergeSection(name, s1, s2, hook)
			continue
		}
		d1[name] = normalizeNewSection(name, s2, hook)
	}
}

// normalizeNewSection applies HEAD's rule for a section new to the
// profile (see mergeDataFlat). The operator's option name is stripped of
// the whole operator (upstream drops two characters, so `abc+=1` would
// set `ab`).
func normalizeNewSection(name string, s section, hook mergeHook) section {
	if _, macro := s["<"]; macro {
		return s
	}
	var ops []string
	for k := range s {
		if _, o := opBase(k); o != 0 {
			ops = append(ops, k)
		}
	}
	if len(ops) == 0 {
		return s
	}
	sortStrings(ops, opSortLess)
	c := cloneSection(s)
	for _, k := range ops {
		base, o := opBase(k)
		if _, ok := c[base]; ok {
			continue
		}
		v := c[k]
		delete(c, k)
		if o == '+' {
			c[base] = &Value{Raw: v.Raw, o: Origin{File: v.o.File, Line: v.o.Line, Kind: v.o.Kind, Text: v.Raw}, n: 1}
			continue
		}
		if hook != nil {
			hook(name, k, v, o)
		}
		c[base] = &Value{Raw: "", o: Origin{File: v.o.File, Line: v.o.Line, Kind: v.o.Kind}, n: 1}
	}
	return mergeSection(name, section{}, c, hook)
}

// sameSection reports whether a and b are the same map and hold no
// operator keys (merging such a section with itself is a no-op).
func sameSection(a, b section) bool {
	if len(a) != len(b) || len(a) == 0 || *(*unsafe.Pointer)(unsafe.Pointer(&a)) != *(*unsafe.Pointer)(unsafe.Pointer(&b)) {
		return false
	}
	for k := range a {
		if _, op := opBase(k); op != 0 {
			return false
		}
	}
	return true
}

// sortStrings sorts s by less (insertion sort for the small slices here,
// sort.Slice otherwise).
func sortStrings(s []string, less func(a, b string) bool) {
	if len(s) < 12 {
		for i := 1; i < len(s); i++ {
			for j := i; j > 0 && less(s[j], s[j-1]); j-- {
				s[j], s[j-1] = s[j-1], s[j]
			}
		}
		return
	}
	sort.Slice(s, func(i, j int) bool { return less(s[i], s[j]) })
}
