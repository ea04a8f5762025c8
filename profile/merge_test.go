package profile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mergeCase is a profile tree and the raw values expected in each merge
// mode (spec §5.5 and §16: "A" is zc.buildout 3.0.1, the nested merge;
// "B" is HEAD, the flattened merge). A value "<absent>" means the option
// must not exist.
type mergeCase struct {
	name   string
	files  map[string]string
	nested map[string]string // "section:option" -> raw value
	flat   map[string]string
}

const absent = "<absent>"

var mergeCases = []mergeCase{
	{
		name: "T02 += through two levels of extends",
		files: map[string]string{
			"base.cfg":     "[s]\na = base\n",
			"mid.cfg":      "[buildout]\nextends = base.cfg\n[s]\na += mid\n",
			"buildout.cfg": "[buildout]\nextends = mid.cfg\nparts =\n[s]\na += top\n",
		},
		nested: map[string]string{"s:a": "base\nmid\ntop"},
		flat:   map[string]string{"s:a": "base\nmid\ntop"},
	},
	{
		name: "T14 diamond",
		files: map[string]string{
			"base.cfg":     "[s]\nx = a\n",
			"e1.cfg":       "[buildout]\nextends = base.cfg\n[s]\nx += b\n",
			"e2.cfg":       "[buildout]\nextends = base.cfg\n[s]\nx += c\n",
			"buildout.cfg": "[buildout]\nextends = e1.cfg e2.cfg\nparts =\n",
		},
		nested: map[string]string{"s:x": "a\nc"},
		flat:   map[string]string{"s:x": "a\nc"},
	},
	{
		name: "T12 sibling defines, nested file increments",
		files: map[string]string{
			"buildout.cfg": "[buildout]\nextends = a.cfg b.cfg\nparts =\n",
			"a.cfg":        "[s]\nx = 1\n",
			"b.cfg":        "[buildout]\nextends = c.cfg\n[s]\nx += 2\n",
			"c.cfg":        "[s]\ny = 0\n",
		},
		nested: map[string]string{"s:x": "\n2", "s:y": "0"},
		flat:   map[string]string{"s:x": "1\n2", "s:y": "0"},
	},
	{
		name: "T13 parts += in two branches over an empty base",
		files: map[string]string{
			"buildout.cfg": "[buildout]\nextends = base1.cfg base2.cfg\nparts += foo\n",
			"base1.cfg":    "[buildout]\nextends = base3.cfg\nparts += base1\n",
			"base2.cfg":    "[buildout]\nextends = base3.cfg\nparts += base2\n",
			"base3.cfg":    "[buildout]\n",
		},
		nested: map[string]string{"buildout:parts": "\nbase2\nfoo"},
		flat:   map[string]string{"buildout:parts": "\nbase1\nbase2\nfoo"},
	},
	{
		name: "T06 operators in a section new everywhere",
		files: map[string]string{
			"buildout.cfg": "[buildout]\nparts =\n[t]\nx += a\n  b\ny -= a\nz = ${:x}|\nabc+=1\n",
		},
		nested: map[string]string{"t:x +": "a\nb", "t:y -": "a", "t:x": absent, "t:y": absent, "t:abc+": "1"},
		flat:   map[string]string{"t:x": "a\nb", "t:y": "", "t:z": "a\nb|", "t:x +": absent, "t:abc": "1", "t:ab": absent},
	},
	{
		name: "T10 same-file operators",
		files: map[string]string{
			"base.cfg": "[s]\na = 1\nb = 1\nd = 1\ne = base\n",
			"buildout.cfg": "[buildout]\nextends = base.cfg\nparts =\n[s]\na += 2\na += 3\nb += 2\nb = 9\nc = 1\n  2\n  3\nc -= 2\nc += 4\nd -= 1\nd += 1\n" +
				"[s:linux]\ne += L\n[s:windows]\ne += W\n",
		},
		nested: map[string]string{"s:a": "1\n3", "s:b": "9\n2", "s:c": "1\n3\n4", "s:d": "", "s:e": "base\nL"},
		flat:   map[string]string{"s:a": "1\n2\n3", "s:b": "9", "s:c": "1\n3\n4", "s:d": "", "s:e": "base\nL"},
	},
	{
		name: "T11 conditional sections add to the same option",
		files: map[string]string{
			"base.cfg": "[s]\nx = base\ny = base\n",
			"buildout.cfg": "[buildout]\nextends = base.cfg\nparts =\n[s]\ny += common\n[s:linux]\nx = on-linux\ny += linux-only\n" +
				"[s:windows]\nx = on-windows\nz = only-windows\n",
		},
		nested: map[string]string{"s:x": "on-linux", "s:y": "base\nlinux-only", "s:z": absent},
		flat:   map[string]string{"s:x": "on-linux", "s:y": "base\ncommon\nlinux-only", "s:z": absent},
	},
	{
		name: "T03 -= removes every matching line",
		files: map[string]string{
			"base.cfg":     "[s]\nb =\n  b1\n  b2\ne = e1 e2\nc = c1 c2\n  c3\n",
			"mid.cfg":      "[buildout]\nextends = base.cfg\n[s]\nb +=\n  b3\n  b2\n",
			"buildout.cfg": "[buildout]\nextends = mid.cfg\nparts =\n[s]\nb -= b2\ne -= e1 e2\nc -=\n  c1 c2\n",
		},
		nested: map[string]string{"s:b": "b1\nb3", "s:e": "", "s:c": "c3"},
		flat:   map[string]string{"s:b": "b1\nb3", "s:e": "", "s:c": "c3"},
	},
	{
		name: "T05 operator on an option absent from an existing section",
		files: map[string]string{
			"base.cfg":     "[s]\nother = 1\n",
			"buildout.cfg": "[buildout]\nextends = base.cfg\nparts =\n[s]\nx += a\ny -= a\n",
		},
		nested: map[string]string{"s:x": "\na", "s:y": ""},
		flat:   map[string]string{"s:x": "\na", "s:y": ""},
	},
	{
		name: "T07 empty operands",
		files: map[string]string{
			"base.cfg":     "[s]\nx = a\ny = a\n",
			"buildout.cfg": "[buildout]\nextends = base.cfg\nparts =\n[s]\nx +=\ny -=\nz = ${:x}|\n",
		},
		nested: map[string]string{"s:x": "a\n", "s:y": "a", "s:z": "a\n|"},
		flat:   map[string]string{"s:x": "a\n", "s:y": "a", "s:z": "a\n|"},
	},
	{
		name: "T15 three files, no base value",
		files: map[string]string{
			"buildout.cfg": "[buildout]\nextends = base.cfg base2.cfg base3.cfg\nparts =\n",
			"base.cfg":     "[buildout]\n",
			"base2.cfg":    "[buildout]\nextensions += demo2\n",
			"base3.cfg":    "[buildout]\nextensions += demo3\n",
		},
		nested: map[string]string{"buildout:extensions": "\ndemo2\ndemo3"},
		flat:   map[string]string{"buildout:extensions": "\ndemo2\ndemo3"},
	},
	{
		name: "T18 macro += pitfall",
		files: map[string]string{
			"hash.cfg": "[t]\nmd5sum = 123\n",
			"buildout.cfg": "[buildout]\nextends = hash.cfg\nparts =\n[tmpl]\ncontext =\n  section buildout buildout\n" +
				"[t]\n<= tmpl\ncontext +=\n  section x x\n[u]\n<= tmpl\ncontext +=\n  section y y\n",
		},
		nested: map[string]string{"t:context": "\nsection x x", "t:md5sum": "123", "u:context": "section buildout buildout\nsection y y"},
		flat:   map[string]string{"t:context": "\nsection x x", "t:md5sum": "123", "u:context": "section buildout buildout\nsection y y"},
	},
	{
		name: "T29 names ending in an operator",
		files: map[string]string{
			"base.cfg":     "[s]\nc = base\nx = z\n  w\n",
			"buildout.cfg": "[buildout]\nextends = base.cfg\nparts =\n[s]\nc++ = 1\na#b = 2\nx- = z\n",
		},
		nested: map[string]string{"s:c": "base\n1", "s:a#b": "2", "s:x": "w"},
		flat:   map[string]string{"s:c": "base\n1", "s:a#b": "2", "s:x": "w"},
	},
}

// value returns the substituted value of sec:opt, or its raw value for an
// option that holds an operator (a raw key that cannot be substituted).
func caseValue(t *testing.T, p *Profile, key string) (string, bool) {
	t.Helper()
	sec, opt, _ := strings.Cut(key, ":")
	if _, op := opBase(opt); op != 0 || sec == "buildout" {
		v, ok := p.Raw(sec, opt)
		if !ok {
			return "", false
		}
		return v.Raw, true
	}
	if _, ok := p.Raw(sec, opt); !ok {
		return "", false
	}
	v, err := p.Get(sec, opt)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return v, true
}

func TestMergeModes(t *testing.T) {
	for _, tc := range mergeCases {
		for _, mode := range []string{MergeNested, MergeFlattened} {
			want := tc.nested
			if mode == MergeFlattened {
				want = tc.flat
			}
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				p, err := load(t, tc.files, LoadOptions{Merge: mode})
				if err != nil {
					t.Fatal(err)
				}
				for key, w := range want {
					got, ok := caseValue(t, p, key)
					switch {
					case w == absent && ok:
						t.Errorf("%s = %q, want no such option", key, got)
					case w != absent && !ok:
						t.Errorf("%s missing, want %q", key, w)
					case w != absent && got != w:
						t.Errorf("%s = %q, want %q", key, got, w)
					}
				}
			})
		}
	}
}

// TestMergeNestedRawKeyError: in the nested mode an operator in a section
// new everywhere stays a raw key, so ${:x} does not exist (T06 A).
func TestMergeNestedRawKeyError(t *testing.T) {
	p, err := load(t, map[string]string{"buildout.cfg": "[buildout]\nparts =\n[t]\nx += a\nz = ${:x}|\n"}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.Get("t", "z"); err == nil {
		t.Fatalf("t:z = %q, want an error (option x does not exist)", v)
	}
}

// TestFlatAnnotate: T12's history in the flattened mode shows a.cfg then
// "+=  b.cfg"; in the nested mode zc.buildout 2.13 keeps a.cfg's history
// for the overriding value (see the conformance goldens).
func TestFlatAnnotate(t *testing.T) {
	files := mergeCases[2].files
	for _, tc := range []struct{ mode, want string }{
		{MergeNested, "x= \n2\n    a.cfg\ny= 0"},
		{MergeFlattened, "x= 1\n2\n    a.cfg\n+=  b.cfg\ny= 0"},
	} {
		cfg := writeFiles(t, files)
		p, err := Load(cfg, LoadOptions{IgnoreUserDefaults: true, Merge: tc.mode})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := p.Annotate(&b, []string{"s"}, false); err != nil {
			t.Fatal(err)
		}
		got := strings.ReplaceAll(b.String(), filepath.Dir(cfg)+string(filepath.Separator), "")
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: annotate\n%s\nwant it to contain\n%s", tc.mode, got, tc.want)
		}
	}
}

// TestMergeOptionInRootFile: [buildout] hbuild-merge in the root file
// selects the mode; LoadOptions.Merge beats it; a bad value is an error
// with file and line.
func TestMergeOptionInRootFile(t *testing.T) {
	files := map[string]string{}
	for k, v := range mergeCases[2].files {
		files[k] = v
	}
	files["buildout.cfg"] = "[buildout]\nextends = a.cfg b.cfg\nparts =\nhbuild-merge = flattened\n"
	for _, tc := range []struct{ opt, want string }{
		{"", "1\n2"},
		{MergeFlattened, "1\n2"},
		{MergeNested, "\n2"},
	} {
		p, err := load(t, files, LoadOptions{Merge: tc.opt})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := p.Get("s", "x"); err != nil || v != tc.want {
			t.Errorf("Merge %q: s:x = %q, %v; want %q", tc.opt, v, err, tc.want)
		}
	}
	files["buildout.cfg"] = "[buildout]\nparts =\nhbuild-merge = flat\n"
	_, err := load(t, files, LoadOptions{})
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 3 || pe.Option != MergeOption || !strings.HasSuffix(pe.File, "buildout.cfg") {
		t.Fatalf("bad hbuild-merge: %v", err)
	}
	if _, err := load(t, mergeCases[0].files, LoadOptions{Merge: "HEAD"}); err == nil || !strings.Contains(err.Error(), "flattened") {
		t.Fatalf("bad LoadOptions.Merge: %v", err)
	}
}

func findWarning(ws []Warning, file string, line int, substr string) bool {
	for _, w := range ws {
		if filepath.Base(w.File) == file && w.Line == line && strings.Contains(w.Msg, substr) {
			return true
		}
	}
	return false
}

// TestOptionalExtends: the flattened mode applies optional-extends after
// extends and before the file itself, relative to the file's directory,
// skipping a missing file with a warning; the nested mode keeps it as a
// plain option (zc.buildout 2.13) and warns that it is not applied.
func TestOptionalExtends(t *testing.T) {
	files := map[string]string{
		"buildout.cfg":  "[buildout]\nextends = sub/mid.cfg\nparts =\n[s]\nx += root\n",
		"sub/mid.cfg":   "[buildout]\nextends = base.cfg\noptional-extends = local.cfg missing.cfg\n[s]\nx += mid\n",
		"sub/base.cfg":  "[s]\nx = base\n",
		"sub/local.cfg": "[s]\nx += local\n",
	}
	p, err := load(t, files, LoadOptions{Merge: MergeFlattened})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.Get("s", "x"); err != nil || v != "base\nlocal\nmid\nroot" {
		t.Fatalf("flattened: s:x = %q, %v", v, err)
	}
	if v, ok := p.Raw("buildout", "optional-extends"); ok {
		t.Fatalf("flattened: buildout:optional-extends kept as an option: %q", v.Raw)
	}
	ws := p.Warnings()
	if len(ws) != 1 || !findWarning(ws, "mid.cfg", 3, "optional-extends file not found: ") || !strings.HasSuffix(ws[0].Msg, filepath.Join("sub", "missing.cfg")+" (skipped)") {
		t.Fatalf("flattened warnings: %+v", ws)
	}
	if ws[0].Section != "buildout" || ws[0].Option != "optional-extends" {
		t.Fatalf("warning section/option: %+v", ws[0])
	}

	p, err = load(t, files, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.Get("s", "x"); err != nil || v != "base\nmid\nroot" {
		t.Fatalf("nested: s:x = %q, %v", v, err)
	}
	if v, ok := p.Raw("buildout", "optional-extends"); !ok || v.Raw != "local.cfg missing.cfg" {
		t.Fatalf("nested: buildout:optional-extends = %v", v)
	}
	if ws := p.Warnings(); len(ws) != 1 || !findWarning(ws, "mid.cfg", 3, "not applied in the nested merge") {
		t.Fatalf("nested warnings: %+v", ws)
	}

	// All present: no warning.
	files["sub/missing.cfg"] = "[s]\nx += present\n"
	p, err = load(t, files, LoadOptions{Merge: MergeFlattened})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.Get("s", "x"); err != nil || v != "base\nlocal\npresent\nmid\nroot" {
		t.Fatalf("flattened, all present: s:x = %q, %v", v, err)
	}
	if ws := p.Warnings(); len(ws) != 0 {
		t.Fatalf("warnings with every file present: %+v", ws)
	}

	// URLs are not accepted.
	files["sub/mid.cfg"] = "[buildout]\noptional-extends = http://127.0.0.1:1/x.cfg\n"
	_, err = load(t, files, LoadOptions{Merge: MergeFlattened})
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 2 || !strings.Contains(pe.Msg, "local paths only") {
		t.Fatalf("URL in optional-extends: %v", err)
	}
}

// TestOptionalExtendsCycle: a cycle through optional-extends is reported.
func TestOptionalExtendsCycle(t *testing.T) {
	_, err := load(t, map[string]string{
		"buildout.cfg": "[buildout]\nparts =\noptional-extends = a.cfg\n",
		"a.cfg":        "[buildout]\noptional-extends = buildout.cfg\n",
	}, LoadOptions{Merge: MergeFlattened})
	if err == nil || !strings.Contains(err.Error(), "recursive extends") {
		t.Fatalf("err = %v", err)
	}
}

// TestWarnings: `-=` on a missing option and operators left unresolved
// are warnings with file and line (errors under Strict).
func TestWarnings(t *testing.T) {
	files := map[string]string{
		"base.cfg":     "[s]\ny = 1\n",
		"buildout.cfg": "[buildout]\nextends = base.cfg\nparts =\n[s]\nx -= a\n[new]\nk += v\n",
	}
	p, err := load(t, files, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ws := p.Warnings()
	if len(ws) != 2 {
		t.Fatalf("warnings: %+v", ws)
	}
	if !findWarning(ws, "buildout.cfg", 5, "`x -=` in [s] removes lines from an option that does not exist") || ws[0].Section != "s" || ws[0].Option != "x" {
		t.Errorf("-= warning: %+v", ws[0])
	}
	if !findWarning(ws, "buildout.cfg", 7, `option literally named "k +"`) || ws[1].Section != "new" || ws[1].Option != "k" {
		t.Errorf("raw key warning: %+v", ws[1])
	}
	if s := ws[0].String(); !strings.HasSuffix(s, "buildout.cfg:5: warning: "+ws[0].Msg) {
		t.Errorf("String() = %q", s)
	}

	// The flattened mode resolves k, so only the -= warning remains.
	p, err = load(t, files, LoadOptions{Merge: MergeFlattened})
	if err != nil {
		t.Fatal(err)
	}
	if ws := p.Warnings(); len(ws) != 1 || !findWarning(ws, "buildout.cfg", 5, "`x -=`") {
		t.Fatalf("flattened warnings: %+v", ws)
	}
	if v, err := p.Get("new", "k"); err != nil || v != "v" {
		t.Fatalf("new:k = %q, %v", v, err)
	}

	// Strict: errors with file and line.
	_, err = load(t, files, LoadOptions{Strict: true})
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 5 || pe.Option != "x" {
		t.Fatalf("strict: %v", err)
	}

	// Command line: no file.
	p, err = load(t, map[string]string{"buildout.cfg": "[buildout]\nparts =\n[s]\ny = 1\n"}, LoadOptions{Overrides: []string{"s:x-=a"}})
	if err != nil {
		t.Fatal(err)
	}
	if ws := p.Warnings(); len(ws) != 1 || ws[0].File != "" || !strings.HasPrefix(ws[0].String(), "command line: warning: ") {
		t.Fatalf("command line warnings: %+v", ws)
	}

	// A clean profile has none.
	if ws := mustLoad(t, map[string]string{"buildout.cfg": "[buildout]\nparts =\n[s]\nx = 1\n"}).Warnings(); len(ws) != 0 {
		t.Fatalf("clean profile warnings: %+v", ws)
	}
}

// TestWarningsDiamondOnce: the same mistake reached through two paths is
// reported once.
func TestWarningsDiamondOnce(t *testing.T) {
	files := map[string]string{
		"base.cfg":     "[s]\ny = 1\n",
		"m.cfg":        "[buildout]\nextends = base.cfg\n[s]\nx -= a\n",
		"e1.cfg":       "[buildout]\nextends = m.cfg\n",
		"e2.cfg":       "[buildout]\nextends = m.cfg\n",
		"buildout.cfg": "[buildout]\nextends = e1.cfg e2.cfg\nparts =\n",
	}
	for _, mode := range []string{MergeNested, MergeFlattened} {
		p, err := load(t, files, LoadOptions{Merge: mode})
		if err != nil {
			t.Fatal(err)
		}
		if ws := p.Warnings(); len(ws) != 1 || !findWarning(ws, "m.cfg", 4, "`x -=`") {
			t.Fatalf("%s: warnings %+v", mode, ws)
		}
	}
}

// TestFlatUserDefaults: the user defaults lie under the whole project. In
// the nested mode (zc.buildout 2.13) `z += top` is resolved inside the
// root file against [s] of base.cfg, so it starts from ""; in the
// flattened mode the sequence starts with the user defaults and += extends
// them (zc.buildout 3.0.1's and HEAD's result).
func TestFlatUserDefaults(t *testing.T) {
	dir := t.TempDir()
	ud := filepath.Join(dir, "default.cfg")
	if err := os.WriteFile(ud, []byte("[s]\nu = user\nx = user\nz = user\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"buildout.cfg": "[buildout]\nextends = base.cfg\nparts =\n[s]\nz += top\n",
		"base.cfg":     "[s]\nx = base\n",
	}
	for mode, z := range map[string]string{MergeNested: "\ntop", MergeFlattened: "user\ntop"} {
		p, err := load(t, files, LoadOptions{UserDefaults: ud, Merge: mode})
		if err != nil {
			t.Fatal(err)
		}
		for opt, want := range map[string]string{"u": "user", "x": "base", "z": z} {
			if v, err := p.Get("s", opt); err != nil || v != want {
				t.Errorf("%s: s:%s = %q, %v; want %q", mode, opt, v, err, want)
			}
		}
	}
}

// TestFlatCommandLineExtends: in the flattened mode buildout:extends on
// the command line opens the files (relative to the working directory)
// over the profile, before the other overrides; in the nested mode it is a
// plain option (zc.buildout 2.13). Each file is merged on its own first
// (open_root), so `x += extra` starts from the empty x of extra-base.cfg's
// [s] and then overrides the root's x.
func TestFlatCommandLineExtends(t *testing.T) {
	cfg := writeFiles(t, map[string]string{
		"buildout.cfg":   "[buildout]\nparts =\n[s]\nx = root\n",
		"extra.cfg":      "[buildout]\nextends = extra-base.cfg\n[s]\nx += extra\n",
		"extra-base.cfg": "[s]\ny = base\n",
	})
	t.Chdir(filepath.Dir(cfg))
	overrides := []string{"buildout:extends=extra.cfg", "s:x+=cli"}
	p, err := Load(cfg, LoadOptions{IgnoreUserDefaults: true, Merge: MergeFlattened, Overrides: overrides})
	if err != nil {
		t.Fatal(err)
	}
	for opt, want := range map[string]string{"x": "\nextra\ncli", "y": "base"} {
		if v, err := p.Get("s", opt); err != nil || v != want {
			t.Errorf("s:%s = %q, %v; want %q", opt, v, err, want)
		}
	}
	if v, ok := p.Raw("buildout", "extends"); ok {
		t.Errorf("buildout:extends kept: %q", v.Raw)
	}

	p, err = Load(cfg, LoadOptions{IgnoreUserDefaults: true, Overrides: overrides})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.Get("s", "x"); err != nil || v != "root\ncli" {
		t.Errorf("nested: s:x = %q, %v", v, err)
	}
	if v, ok := p.Raw("buildout", "extends"); !ok || v.Raw != "extra.cfg" {
		t.Errorf("nested: buildout:extends = %v", v)
	}

	_, err = Load(cfg, LoadOptions{IgnoreUserDefaults: true, Merge: MergeFlattened, Overrides: []string{"buildout:extends=nosuch.cfg"}})
	if err == nil || !strings.Contains(err.Error(), "nosuch.cfg") || !strings.Contains(err.Error(), "command line") {
		t.Fatalf("missing command-line extends: %v", err)
	}
}
