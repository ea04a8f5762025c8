package profile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes a profile tree into a new temporary directory and
// returns the path of its buildout.cfg.
func writeFiles(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "buildout.cfg")
}

func load(t testing.TB, files map[string]string, opts LoadOptions) (*Profile, error) {
	t.Helper()
	opts.IgnoreUserDefaults = opts.IgnoreUserDefaults || opts.UserDefaults == ""
	return Load(writeFiles(t, files), opts)
}

func mustLoad(t testing.TB, files map[string]string) *Profile {
	t.Helper()
	p, err := load(t, files, LoadOptions{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return p
}

func TestSubstitution(t *testing.T) {
	const head = "[buildout]\nparts =\n"
	for _, tc := range []struct {
		name, cfg string
		want      map[string]string // "section:option" -> value
	}{
		{"basic", "[a]\nx = 1\ny = ${:x} ${b:z}\n[b]\nz = hello\n", map[string]string{"a:y": "1 hello"}},
		{"nested", "[a]\nx = <${b:y}>\n[b]\ny = (${c:z})\n[c]\nz = ${:w}${:w}\nw = v\n",
			map[string]string{"a:x": "<(vv)>", "b:y": "(vv)"}},
		{"into buildout", "[a]\nd = ${buildout:directory}/x\nb = ${buildout:bin-directory}\n", nil},
		{"macro own options", "[base]\nport = 80\nhost = localhost\nurl = http://${:host}:${:port}/${:_buildout_section_name_}\n" +
			"[child]\n<= base\nport = 8080\n[grand]\n<= child\nhost = example.com\n",
			map[string]string{"child:url": "http://localhost:8080/child", "grand:url": "http://example.com:8080/grand",
				"base:url": "http://localhost:80/base"}},
		{"macro explicit reference", "[m]\nport = 1\nurl = ${m:port}/${:port}\n[m2]\n<= m\nport = 2\n",
			map[string]string{"m2:url": "1/2"}},
		{"reference into a macro user", "[m]\nport = 1\n[u]\n<= m\n[v]\nx = ${u:port}\n", map[string]string{"v:x": "1"}},
		{"macro list operators", "[base]\nlist =\n  a\n  b\n[child]\n<= base\nlist += c\nlist -= a\n",
			map[string]string{"child:list": "b\nc"}},
		{"multi macro", "[base]\nport = 80\n[other]\nport = 9\nextra = ${:port}\n[multi]\n<=\n  base\n  other\n",
			map[string]string{"multi:port": "9", "multi:extra": "9", "other:extra": "9"}},
		{"escapes", "[s]\na = $${s:b}\nb = x\nc = $$${s:b}\nd = $$$${s:b}\ne = cost $5 and ${:b}$\nf = ${s:b}$${s:b}\ng = $$\ni = ${s:b\nj = $${\n",
			map[string]string{"s:a": "$${s:b}", "s:c": "$$x", "s:d": "$$$${s:b}", "s:e": "cost $5 and x$",
				"s:f": "x$${s:b}", "s:g": "$$", "s:i": "${s:b", "s:j": "$${"}},
		{"section name quirk", "[a]\nme = ${:_buildout_section_name_}\nother = ${b:_buildout_section_name_}\nvia = ${b:me}\n[b]\nme = ${:_buildout_section_name_}\n",
			map[string]string{"a:me": "a", "a:other": "a", "a:via": "b", "b:me": "b"}},
		{"no rescan of inserted text", "[s]\nb = B\nv = $${s:b}\nw = ${:v}\n", map[string]string{"s:w": "$${s:b}"}},
		// zc.buildout substitutes a value once when the section is
		// initialised and once more when it is read: a reference built by
		// the first pass is resolved by the second.
		{"second pass", "[s]\nb = B\np = ${\nq = ${s:p}s:b}\n", map[string]string{"s:q": "B", "s:p": "${"}},
		{"mutual references are not a cycle", "[p]\na = ${q:b}\nc = 1\n[q]\nb = 2\nd = ${p:c}\n",
			map[string]string{"p:a": "2", "q:d": "1"}},
		{"unreferenced cycle is lazy", "[p]\na = ${:a}\n[q]\nx = 1\n", map[string]string{"q:x": "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustLoad(t, map[string]string{"buildout.cfg": head + tc.cfg})
			for ref, want := range tc.want {
				s, o, _ := strings.Cut(ref, ":")
				got, err := p.Get(s, o)
				if err != nil || got != want {
					t.Errorf("%s = %q, %v; want %q", ref, got, err, want)
				}
			}
		})
	}
}

func TestSubstitutionDirectories(t *testing.T) {
	p := mustLoad(t, map[string]string{"buildout.cfg": "[buildout]\nparts =\n[a]\nd = ${buildout:directory}/x\nb = ${buildout:bin-directory}\n"})
	dir := filepath.Dir(p.Path())
	for ref, want := range map[string]string{"a:d": dir + "/x", "a:b": dir + "/bin"} {
		s, o, _ := strings.Cut(ref, ":")
		if got, err := p.Get(s, o); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", ref, got, err, want)
		}
	}
}

// errCase is a profile that must fail with an *Error at a file and line.
type errCase struct {
	name  string
	files map[string]string
	opts  LoadOptions
	get   string // "section:option" to read after Load ("" = Load must fail)
	file  string // base name of the file the error names
	line  int
	has   []string // substrings of the message
	chain []string // expected Chain, if any
}

func checkErr(t *testing.T, tc errCase) {
	t.Helper()
	p, err := load(t, tc.files, tc.opts)
	if err == nil && tc.get != "" {
		s, o, _ := strings.Cut(tc.get, ":")
		_, err = p.Get(s, o)
	}
	if err == nil {
		t.Fatal("no error")
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %T is not *profile.Error: %v", err, err)
	}
	if filepath.Base(pe.File) != tc.file || pe.Line != tc.line {
		t.Errorf("error at %s:%d, want %s:%d: %v", filepath.Base(pe.File), pe.Line, tc.file, tc.line, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, tc.file+":") {
		t.Errorf("message does not name the file: %s", msg)
	}
	for _, h := range tc.has {
		if !strings.Contains(msg, h) {
			t.Errorf("message lacks %q: %s", h, msg)
		}
	}
	if tc.chain != nil && strings.Join(pe.Chain, " -> ") != strings.Join(tc.chain, " -> ") {
		t.Errorf("chain %q, want %q", pe.Chain, tc.chain)
	}
}

func TestSubstitutionErrors(t *testing.T) {
	cfg := func(s string) map[string]string {
		return map[string]string{"buildout.cfg": "[buildout]\nparts =\n" + s}
	}
	for _, tc := range []errCase{
		{name: "no colon", files: cfg("x = ${parts}\n"), file: "buildout.cfg", line: 3, has: []string{"buildout:x", "${parts}", "no colon"}},
		{name: "too many colons", files: cfg("[s]\nx = ${buildout:y:z}\n"), get: "s:x", file: "buildout.cfg", line: 4, has: []string{"too many colons"}},
		{name: "bad section chars", files: cfg("[s]\nx = ${bui$ldout:y}\n"), get: "s:x", file: "buildout.cfg", line: 4, has: []string{"section name", "invalid characters"}},
		{name: "bad option chars", files: cfg("[s]\nx = ${buildout:y{z}\n"), get: "s:x", file: "buildout.cfg", line: 4, has: []string{"option name", "invalid characters"}},
		{name: "empty names", files: cfg("[s]\nx = ${:}\n"), get: "s:x", file: "buildout.cfg", line: 4, has: []string{"section name"}},
		{name: "missing section", files: cfg("[s]\nx = ${nosuch:y}\n"), get: "s:x", file: "buildout.cfg", line: 4,
			has: []string{"[nosuch] does not exist"}},
		{name: "missing option", files: cfg("[p]\na = ${q:zz}\n[q]\n"), get: "p:a", file: "buildout.cfg", line: 4,
			has: []string{"option zz", "[q]"}},
		{name: "missing option through a chain", files: cfg("[a]\nx = ${b:y}\n[b]\ny = ${c:z}\n[c]\nw = 1\n"), get: "a:x",
			file: "buildout.cfg", line: 6, has: []string{"b:y:", "option z", "(via a:x -> b:y -> c:z)"}, chain: []string{"a:x", "b:y", "c:z"}},
		{name: "missing option in another file", files: map[string]string{
			"buildout.cfg": "[buildout]\nextends = base.cfg\nparts =\n[a]\nx = ${b:y}\n",
			"base.cfg":     "[b]\n\ny = ${c:nope}\n[c]\n"}, get: "a:x",
			file: "base.cfg", line: 3, has: []string{"(via a:x -> b:y -> c:nope)"}},
		{name: "self cycle", files: cfg("[p]\na = ${:a}\n"), get: "p:a", file: "buildout.cfg", line: 4, has: []string{"circular reference: p:a -> p:a"}},
		{name: "two-section cycle", files: cfg("[p]\na = ${q:b}\n[q]\nb = ${p:a}\n"), get: "p:a", file: "buildout.cfg", line: 6,
			has: []string{"circular reference: q:b -> p:a -> q:b"}},
		{name: "three-option cycle", files: cfg("[p]\na = ${q:b}\n[q]\nb = ${r:c}\n[r]\nc = ${p:a}\n"), get: "p:a", file: "buildout.cfg", line: 8,
			has: []string{"circular reference: r:c -> p:a -> q:b -> r:c"}},
		{name: "cycle through a macro", files: cfg("[m]\nx = ${:y}\ny = ${:x}\n[u]\n<= m\n"), get: "u:x", file: "buildout.cfg", line: 4,
			has: []string{"circular reference", "u:x"}},
		{name: "unused bad option of a referenced section", files: cfg("[a]\nx = ${b:ok}\n[b]\nok = 1\nbad = ${nosuch:x}\n"), get: "a:x",
			file: "buildout.cfg", line: 7, has: []string{"[nosuch]"}},
		{name: "macro missing", files: cfg("[a]\n<= nothere\n"), get: "a:x", file: "buildout.cfg", line: 4, has: []string{"[nothere] does not exist"}},
		{name: "macro loop", files: cfg("[a]\n<= b\n[b]\n<= a\n"), get: "a:x", file: "buildout.cfg", line: 4, has: []string{"infinite macro loop: a -> b -> a"}},
		{name: "macro one per line", files: cfg("[a]\nx = 1\n[b]\ny = 2\n[c]\n<= a b\n"), get: "c:x", file: "buildout.cfg", line: 8,
			has: []string{"[a b]", "one section per line"}},
		{name: "missing part dependency", files: cfg("[s]\n=> nosuch\n"), get: "s:x", file: "buildout.cfg", line: 4, has: []string{"[nosuch]"}},
	} {
		t.Run(tc.name, func(t *testing.T) { checkErr(t, tc) })
	}
}

// TestBadInput covers the "Bad input" list: each error names file
// and line and says what to change.
func TestBadInput(t *testing.T) {
	for _, tc := range []errCase{
		{name: "syntax: space in name", files: map[string]string{"buildout.cfg": "[buildout]\nparts =\n\n[s]\nmy option = 1\n"},
			file: "buildout.cfg", line: 5, has: []string{"syntax error", "my option = 1", "no spaces in names"}},
		{name: "syntax: several bad lines", files: map[string]string{"buildout.cfg": "[s]\n  x = 1\na\nb: 2\n"},
			file: "buildout.cfg", line: 2, has: []string{"more syntax errors in lines 3, 4"}},
		{name: "syntax: operator apart from =", files: map[string]string{"buildout.cfg": "[s]\nx + = 1\n"},
			file: "buildout.cfg", line: 2, has: []string{"operator must touch"}},
		{name: "syntax: header garbage", files: map[string]string{"buildout.cfg": "[s]\nx = 1\n[t] garbage\n"},
			file: "buildout.cfg", line: 3},
		{name: "no section header", files: map[string]string{"buildout.cfg": "# c\n\nx = 1\n"},
			file: "buildout.cfg", line: 3, has: []string{"before any section header"}},
		{name: "false conditional first", files: map[string]string{"buildout.cfg": "[z:not linux]\na = 1\n"},
			file: "buildout.cfg", line: 2, has: []string{"unconditional"}},
		{name: "syntax error in an extended file", files: map[string]string{"buildout.cfg": "[buildout]\nextends = sub/base.cfg\n", "sub/base.cfg": "[s]\n\n\nbad line\n"},
			file: "base.cfg", line: 4},
		{name: "missing extends file", files: map[string]string{"buildout.cfg": "[buildout]\nparts =\nextends =\n  a.cfg\n  nothere.cfg\n", "a.cfg": "[a]\n"},
			file: "buildout.cfg", line: 3, has: []string{"nothere.cfg", "no such file"}},
		{name: "missing extends file in an extended file", files: map[string]string{"buildout.cfg": "[buildout]\nextends = a.cfg\n", "a.cfg": "[buildout]\n\nextends = ../x/b.cfg\n"},
			file: "a.cfg", line: 3, has: []string{"b.cfg"}},
		{name: "recursive extends", files: map[string]string{"buildout.cfg": "[buildout]\nextends = a.cfg\n", "a.cfg": "[buildout]\nextends = sub/../buildout.cfg\n"},
			file: "a.cfg", line: 2, has: []string{"recursive extends", "buildout.cfg -> ", "a.cfg -> "}},
		{name: "unknown section in a reference", files: map[string]string{"buildout.cfg": "[buildout]\nparts =\n[a]\nx = ${b:y}\n[b]\ny = ${nosuch:z}\n"},
			get: "a:x", file: "buildout.cfg", line: 6, has: []string{"[nosuch] does not exist", "(via a:x -> b:y -> nosuch:z)"}},
		{name: "unknown option in a reference", files: map[string]string{"buildout.cfg": "[buildout]\nparts =\n[a]\nx = ${b:nope}\n[b]\n"},
			get: "a:x", file: "buildout.cfg", line: 4, has: []string{"option nope", "define it"}},
		{name: "reference cycle", files: map[string]string{"buildout.cfg": "[buildout]\nparts =\n[a]\nx = ${b:y}\n[b]\ny = ${a:x}\n"},
			get: "a:x", file: "buildout.cfg", line: 6, has: []string{"circular reference: b:y -> a:x -> b:y", "break the cycle"}},
		{name: "bad conditional: unknown name", files: map[string]string{"buildout.cfg": "[buildout]\nparts =\n[s:nosuchname]\na = 1\n"},
			file: "buildout.cfg", line: 3, has: []string{"bad condition", "nosuchname"}},
		{name: "bad conditional: syntax", files: map[string]string{"buildout.cfg": "[buildout]\nparts =\n[s:linux and]\na = 1\n"},
			file: "buildout.cfg", line: 3, has: []string{"bad condition", "SyntaxError"}},
		{name: "strict -= on a missing option", files: map[string]string{"buildout.cfg": "[buildout]\nextends = base.cfg\nparts =\n[s]\nx -= a\n", "base.cfg": "[s]\ny = 1\n"},
			opts: LoadOptions{Strict: true}, file: "buildout.cfg", line: 5, has: []string{"x -=", "does not exist"}},
		{name: "strict -= in a new section", files: map[string]string{"buildout.cfg": "[buildout]\nparts =\n[t]\nz -= a\n"},
			opts: LoadOptions{Strict: true}, file: "buildout.cfg", line: 4, has: []string{"never applied"}},
		{name: "strict -= on the command line target", files: map[string]string{"buildout.cfg": "[buildout]\nparts =\n\n[s]\nx = 1\n", "base.cfg": ""},
			opts: LoadOptions{Strict: true, Overrides: []string{"s:x=2"}}, get: "s:nope", file: "", line: 0},
		{name: "invalid boolean", files: map[string]string{"buildout.cfg": "[buildout]\nparts =\noffline = maybe\n"},
			file: "buildout.cfg", line: 3, has: []string{"true or false"}},
		{name: "extended-by", files: map[string]string{"buildout.cfg": "[buildout]\nextended-by = x.cfg\n"},
			file: "buildout.cfg", line: 2, has: []string{"extended-by"}},
	} {
		if tc.file == "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) { checkErr(t, tc) })
	}
}

func TestMinusOnMissingOptionIsSilentByDefault(t *testing.T) {
	files := map[string]string{"buildout.cfg": "[buildout]\nextends = base.cfg\nparts =\n[s]\nx -= a\n", "base.cfg": "[s]\ny = 1\n"}
	p, err := load(t, files, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.Get("s", "x"); err != nil || v != "" {
		t.Fatalf("s:x = %q, %v; want \"\" (zc.buildout starts from an empty value)", v, err)
	}
}
