package profile

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"[buildout]\nparts = a\n[a]\nrecipe = r\nx = 1\ny = ${:x}\n",
		"[s]\nx = 1 # c\ny = a ; b\n# comment\n; comment\n[ t ] # h\nk=v\n[t];c2\nk2=v2\n",
		"[s]\nw =\n  a\n    b\n\n  c\nv=\n",
		"[s]\na =\n\tx\n\t  y\nb =\n  x\n\ty\n",
		"[s]\nx += 1\nx -= 2\nc++ = 1\na#b = 2\n<= m\n=> p q\n",
		"[s:linux]\nx = 1\n[t:python3] # c\n[u:python_version >= \"3.0\"]\n[w:platform.machine() in (\"x86_64\", \"aarch64\")]\n[y:[1][0]]\n[n:0]\nq = never\n",
		"[v:sys.version_info < (3, 10) or [int(x) for x in platform.release().split('.')[:2]] >= [5, 0]]\n",
		"[x:\"a\\x23b\" == \"a\" + chr(35) + \"b\"]\nk = v\n",
		"[s]\r\nx = 1\r\n  cont\rz = 2\n",
		"x = 1\n",
		"[s]\n  x = 1\nbad\n",
	} {
		f.Add(s)
	}
	globals := conditionGlobals()
	f.Fuzz(func(t *testing.T, src string) {
		pf, err := parseFile("fuzz.cfg", src, func(expr string) (bool, error) { return evalCondition(expr, globals) })
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.File != "fuzz.cfg" || pe.Line < 1 {
				t.Fatalf("error without location: %#v", err)
			}
			return
		}
		// Merging what was parsed, as extends would, must not fail either.
		d := data{}
		for name, ps := range pf.sections {
			s := section{}
			for k, o := range ps.opts {
				s[k] = newValue(o.value, Origin{File: "fuzz.cfg", Line: o.line, Kind: KindFile})
			}
			d[name] = s
		}
		acc := data{"s": section{"x": newValue("base", Origin{Kind: KindDefault})}}
		mergeData(acc, d, nil)
		mergeData(acc, d, nil)

		// The flattened mode's parser and merge must not fail either.
		pf, err = parseFileMode("fuzz.cfg", src, func(expr string) (bool, error) { return evalCondition(expr, globals) }, true)
		if err != nil {
			t.Fatalf("flattened parse fails where the nested one does not: %v", err)
		}
		d = data{}
		// An option whose own name ends in "+" or "-" (`x+ -= v`) is, once
		// resolved, a key that reads as an operator again, as upstream:
		// then the check below cannot tell them apart.
		ambiguous := false
		for name, ps := range pf.sections {
			s := section{}
			for k, o := range ps.opts {
				s[k] = newValue(o.value, Origin{File: "fuzz.cfg", Line: o.line, Kind: KindFile})
				if b, op := opBase(k); op != 0 && (strings.HasSuffix(b, "+") || strings.HasSuffix(b, "-")) {
					ambiguous = true
				}
			}
			d[name] = s
		}
		// Into an empty profile every operator outside a macro section is
		// resolved. (Merging again may leave a key like "x+", from
		// `x+-=`: an option whose name ends in "+", as upstream.)
		flat := data{}
		mergeDataFlat(flat, d, nil)
		for name, s := range flat {
			if ambiguous {
				break
			}
			if _, macro := s["<"]; macro {
				continue
			}
			for k := range s {
				if _, op := opBase(k); op != 0 {
					t.Fatalf("flattened merge left operator %q in [%s]", k, name)
				}
			}
		}
		mergeDataFlat(flat, d, nil)
	})
}

func FuzzSubstitute(f *testing.F) {
	for _, s := range [][4]string{
		{"${:y} ${b:z}", "1", "hello", ""},
		{"$${s:b}", "$$${a:y}", "$$$${a:x}", ""},
		{"${a:x}", "${b:z}", "${a:y}", ""},
		{"${:_buildout_section_name_}", "${b:_buildout_section_name_}", "${", "b"},
		{"${a:y}s:b}", "${", "${nosuch:x}", "a"},
		{"${parts}", "${a:y:z}", "${bu$:y}", "b\n  a"},
		{"${ a :b}", "${:}", "${a:}", "nosuch"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, ax, ay, bz, macro string) {
		o := Origin{File: "fuzz.cfg", Line: 1, Kind: KindFile}
		d := data{
			"buildout": section{"directory": newValue("/fuzz", Origin{Kind: KindComputed})},
			"a":        section{"x": newValue(ax, o), "y": newValue(ay, o)},
			"b":        section{"z": newValue(bz, o), "w": newValue(ax+bz, o), "x +": newValue(ay, o)},
			"s":        section{"b": newValue(bz, o)},
		}
		if macro != "" {
			d["c"] = section{"<": newValue(macro, o), "y": newValue(ax, o)}
		}
		p := newProfile("/fuzz/buildout.cfg", d, nil)
		for _, s := range []string{"c", "b", "a", "s", "buildout"} {
			if _, err := p.Resolve(s); err != nil {
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("error %T is not *Error: %v", err, err)
				}
			}
			if _, err := p.Refs(s); err != nil {
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("Refs error %T is not *Error: %v", err, err)
				}
			}
		}
	})
}
