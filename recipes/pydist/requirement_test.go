package pydist

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRequirement(t *testing.T) {
	tests := []struct {
		in   string
		want Requirement
	}{
		{`name[extra1,extra2] >= 1.0, < 2; python_version < "3.8"`,
			Requirement{Name: "name", Extras: []string{"extra1", "extra2"}, Specifier: ">=1.0,<2", Marker: `python_version < "3.8"`}},
		{`pkg (>=1.0)`, Requirement{Name: "pkg", Specifier: ">=1.0"}},
		{`zope.interface (>=3.5.0, !=4.0.*)`, Requirement{Name: "zope.interface", Specifier: ">=3.5.0,!=4.0.*"}},
		{`A`, Requirement{Name: "A"}},
		{`  A.B-C_D  `, Requirement{Name: "A.B-C_D"}},
		{`aa`, Requirement{Name: "aa"}},
		{`name<=1`, Requirement{Name: "name", Specifier: "<=1"}},
		{`name>=3,<2`, Requirement{Name: "name", Specifier: ">=3,<2"}},
		{`name~=1.4.2`, Requirement{Name: "name", Specifier: "~=1.4.2"}},
		{`name===weird-1.0`, Requirement{Name: "name", Specifier: "===weird-1.0"}},
		{`name [fred,bar] @ http://foo.com ; python_version=='2.7'`,
			Requirement{Name: "name", Extras: []string{"fred", "bar"}, URL: "http://foo.com", Marker: `python_version=='2.7'`}},
		{`name@file:///tmp/name-1.0.tar.gz`, Requirement{Name: "name", URL: "file:///tmp/name-1.0.tar.gz"}},
		{`name[quux, strange];python_version<'2.7' and platform_version=='2'`,
			Requirement{Name: "name", Extras: []string{"quux", "strange"}, Marker: `python_version<'2.7' and platform_version=='2'`}},
		{`name; os_name=='a' or os_name=='b'`, Requirement{Name: "name", Marker: `os_name=='a' or os_name=='b'`}},
		{`name[]`, Requirement{Name: "name"}},
		{`importlib-metadata; python_version < "3.8" and extra == "test"`,
			Requirement{Name: "importlib-metadata", Marker: `python_version < "3.8" and extra == "test"`}},
		{`foo>=1.0dev`, Requirement{Name: "foo", Specifier: ">=1.0dev"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRequirement(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
			// String renders a requirement that parses back the same.
			again, err := ParseRequirement(got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip through %q: %#v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseRequirementErrors(t *testing.T) {
	for _, in := range []string{
		``, `-name`, `name-`, `name[`, `name[a,,b]`, `name[a b]`, `name >= `, `name = 1.0`,
		`name >= 1.0 <2`, `name (>=1.0`, `name >= 1.0;`, `name; os_name ==`, `name; bogus == "x"`,
		`name; os_name == "a" and`, `name; (os_name == "a"`, `name ~= 1`, `name >= 1.0.*`,
		`name == 1.0+local.*`, `name >= 1.0+local`, `name >= foo`, `name @ `, `name @ url`,
		`name @ http://x/y junk`, `name ! 1`,
	} {
		if r, err := ParseRequirement(in); err == nil {
			t.Errorf("ParseRequirement(%q) = %#v, want an error", in, r)
		} else if !strings.Contains(err.Error(), "parse requirement") {
			t.Errorf("ParseRequirement(%q): error %q does not say what it parsed", in, err)
		}
	}
}

func TestContains(t *testing.T) {
	tests := []struct {
		spec string
		in   []string
		out  []string
	}{
		{"", []string{"1.0", "0.1a1"}, nil},
		{"==1.0", []string{"1.0", "1.0.0", "1.0+local", "v1.0"}, []string{"1.0.1", "1.0a1", "1.0.post1"}},
		{"==1.0+local", []string{"1.0+local"}, []string{"1.0", "1.0+other"}},
		{"==1.1.*", []string{"1.1", "1.1.0", "1.1.post1", "1.1a1", "1.1.5+l", "1.1.dev0"}, []string{"1.10", "1.2", "1.0"}},
		{"==1.*", []string{"1", "1.9.9"}, []string{"2.0", "0!2"}},
		{"!=1.3.*", []string{"1.2", "1.4", "1.30"}, []string{"1.3", "1.3.4"}},
		{"!=1.0", []string{"1.0.1", "1.0a1"}, []string{"1.0", "1.0+local"}},
		{">=1.0,!=1.3.*,<2", []string{"1.0", "1.2", "1.4", "1.9.9"}, []string{"0.9", "1.3.1", "2.0", "2.0a1"}},
		{"~=2.2", []string{"2.2", "2.3", "2.9.post1"}, []string{"2.1", "3.0", "2.2a1"}},
		{"~=1.4.5", []string{"1.4.5", "1.4.9"}, []string{"1.5.0", "1.4.4"}},
		{"~=2.2.post3", []string{"2.2.post3", "2.9"}, []string{"2.2", "3.0"}},
		{"<=1.0", []string{"1.0", "1.0+local", "0.9"}, []string{"1.0.post1", "1.1"}},
		{"<2.0", []string{"1.9", "1.9999"}, []string{"2.0", "2.0a1", "2.0.dev1", "2.1"}},
		{"<2.0rc1", []string{"2.0b1", "2.0rc1.dev0"}, []string{"2.0rc1"}},
		{">1.7", []string{"1.7.1", "1.8"}, []string{"1.7", "1.7.post2", "1.7+local", "1.6"}},
		{">1.7.post2", []string{"1.7.post3", "1.8"}, []string{"1.7.post2", "1.7.post1"}},
		{">=1.0a1", []string{"1.0a1", "1.0", "1.0b1"}, []string{"1.0.dev0"}},
		{"===1.0", []string{"1.0"}, []string{"1.0.0", "1.0+x"}},
		{"===foobar", []string{"foobar", "FooBar"}, []string{"foobar1"}},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			r := Requirement{Name: "x", Specifier: tc.spec}
			for _, v := range tc.in {
				if ok, err := r.Contains(v); err != nil || !ok {
					t.Errorf("%q contains %q = %v, %v; want true", tc.spec, v, ok, err)
				}
			}
			for _, v := range tc.out {
				if ok, err := r.Contains(v); err != nil || ok {
					t.Errorf("%q contains %q = %v, %v; want false", tc.spec, v, ok, err)
				}
			}
		})
	}
	if _, err := (Requirement{Name: "x", Specifier: ">=1"}).Contains("not-a-version"); err == nil {
		t.Error("Contains of an invalid version: want an error")
	}
	if _, err := (Requirement{Name: "x", Specifier: ">=junk"}).Contains("1.0"); err == nil {
		t.Error("Contains with an invalid specifier: want an error")
	}
	if ok, err := SpecifierContains(">=1,<2", "1.5"); err != nil || !ok {
		t.Errorf("SpecifierContains = %v, %v", ok, err)
	}
}

func TestEvalMarker(t *testing.T) {
	env := Target{PythonVersion: "3.11.4"}.MarkerEnv()
	tests := []struct {
		marker string
		extras []string
		want   bool
	}{
		{`python_version < "3.8"`, nil, false},
		{`python_version >= "3.8"`, nil, true},
		{`python_version > "3.9"`, nil, true}, // a version, not a string, comparison
		{`python_version == "3.11"`, nil, true},
		{`python_version == "3.11.*"`, nil, true},
		{`python_version ~= "3.7"`, nil, true},
		{`python_version != "3.11"`, nil, false},
		{`python_full_version >= "3.11.3"`, nil, true},
		{`python_full_version < "3.11.4"`, nil, false},
		{`"3.8" < python_version`, nil, true},
		{`implementation_version >= "3.11"`, nil, true},
		{`os_name == "posix"`, nil, true},
		{`os_name == 'nt'`, nil, false},
		{`sys_platform == "win32"`, nil, false},
		{`sys_platform != "win32"`, nil, true},
		{`sys.platform == "linux"`, nil, true},
		{`platform_system == "Linux" and platform_machine == "x86_64"`, nil, true},
		{`platform_machine in "x86_64 aarch64"`, nil, true},
		{`platform_machine not in "x86_64 aarch64"`, nil, false},
		{`"linux" in sys_platform`, nil, true},
		{`implementation_name == "cpython" and platform_python_implementation == "CPython"`, nil, true},
		{`python_version < "3.8" or os_name == "posix"`, nil, true},
		{`python_version < "3.8" or os_name == "nt"`, nil, false},
		{`os_name == "nt" and python_version < "3.8" or os_name == "posix"`, nil, true},
		{`os_name == "nt" and (python_version < "3.8" or os_name == "posix")`, nil, false},
		{`(os_name == "posix" or os_name == "nt") and (python_version >= "3")`, nil, true},
		{`((((os_name == "posix"))))`, nil, true},
		{`extra == "test"`, nil, false},
		{`extra == "test"`, []string{"test"}, true},
		{`extra == "test"`, []string{"doc", "test"}, true},
		{`extra == "Test_Suite"`, []string{"test.suite"}, true},
		{`extra == "test"`, []string{"doc"}, false},
		{`extra != "test"`, nil, true},
		{`"test" == extra`, []string{"test"}, true},
		{`python_version < "3.8" and extra == "test"`, []string{"test"}, false},
		{`python_version >= "3.8" and extra == "test"`, []string{"test"}, true},
		{`platform_release >= "5"`, nil, false}, // absent variables are ""
		{`os_name < "zzz"`, nil, true},
		{`os_name > "zzz"`, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.marker, func(t *testing.T) {
			got, err := EvalMarker(tc.marker, env, tc.extras)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("EvalMarker(%q, extras %q) = %v, want %v", tc.marker, tc.extras, got, tc.want)
			}
		})
	}
	for _, bad := range []string{
		``, `os_name`, `os_name ==`, `os_name = "x"`, `os_name == "x`, `os_name == "x" and`,
		`(os_name == "x"`, `os_name == "x")`, `foo == "x"`, `os_name == x`, `os_name == "x" xor os_name == "y"`,
		`os_name not "x"`, `os_name <> "x"`, `python_version > 3.8`, `os_name == "x" $`,
		`os_name ~= "posix"`,
	} {
		_, err := EvalMarker(bad, env, nil)
		if err == nil {
			t.Errorf("EvalMarker(%q): want an error", bad)
		} else if !strings.Contains(err.Error(), `"`+strings.ReplaceAll(bad, `"`, `\"`)+`"`) {
			t.Errorf("EvalMarker(%q): error %q does not quote the marker", bad, err)
		}
	}
}

func TestApplicable(t *testing.T) {
	var m Metadata
	for _, s := range []string{
		`always`,
		`old; python_version < "3.8"`,
		`new; python_version >= "3.8"`,
		`pytest; extra == "test"`,
		`sphinx; extra == "docs" and os_name == "posix"`,
	} {
		r, err := ParseRequirement(s)
		if err != nil {
			t.Fatal(err)
		}
		m.Requires = append(m.Requires, r)
	}
	env := Target{PythonVersion: "3.11"}.MarkerEnv()
	namesOf := func(extras ...string) []string {
		rs, err := m.Applicable(env, extras)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	if got := namesOf(); !reflect.DeepEqual(got, []string{"always", "new"}) {
		t.Errorf("no extras: %q", got)
	}
	if got := namesOf("test", "docs"); !reflect.DeepEqual(got, []string{"always", "new", "pytest", "sphinx"}) {
		t.Errorf("test, docs: %q", got)
	}
	env37 := Target{PythonVersion: "3.7.9"}.MarkerEnv()
	rs, err := m.Applicable(env37, nil)
	if err != nil || len(rs) != 2 || rs[1].Name != "old" {
		t.Errorf("3.7: %v, %v", rs, err)
	}
	m.Requires = append(m.Requires, Requirement{Name: "broken", Marker: `os_name ==`})
	if _, err := m.Applicable(env, nil); err == nil {
		t.Error("a broken marker: want an error")
	}
}
