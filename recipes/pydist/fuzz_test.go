package pydist

import (
	"net/url"
	"reflect"
	"testing"
)

func FuzzParseRequirement(f *testing.F) {
	for _, s := range []string{
		`name[extra1,extra2] >= 1.0, < 2; python_version < "3.8"`,
		`pkg (>=1.0)`,
		`name @ http://foo.com ; os_name == "posix"`,
		`a===x`, `b~=1.4.2,!=1.4.*`, `c; (extra == "t" or os_name in "posix") and python_full_version >= '3'`,
		`d[`, `e >=`, `f; (`,
	} {
		f.Add(s, "1.0")
	}
	f.Fuzz(func(t *testing.T, s, ver string) {
		r, err := ParseRequirement(s)
		if err != nil {
			return
		}
		// What parsed renders to text that parses to the same thing.
		again, err := ParseRequirement(r.String())
		if err != nil {
			t.Fatalf("%q parsed to %#v whose String %q does not parse: %v", s, r, r.String(), err)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("%q: %#v, then %#v through %q", s, r, again, r.String())
		}
		if _, err := r.Contains(ver); err != nil && ValidVersion(ver) {
			t.Fatalf("%q contains valid version %q: %v", r.Specifier, ver, err)
		}
		if r.Marker != "" {
			if _, err := EvalMarker(r.Marker, Target{PythonVersion: "3.11.2"}.MarkerEnv(), r.Extras); err != nil {
				t.Fatalf("marker %q parsed but does not evaluate: %v", r.Marker, err)
			}
		}
	})
}

func FuzzEvalMarker(f *testing.F) {
	for _, s := range []string{
		`python_version < "3.8"`,
		`os_name == "nt" and (python_version < "3.8" or os_name == "posix")`,
		`extra == "test"`, `platform_machine not in 'x86_64 aarch64'`,
		`python_full_version ~= "3.11.0"`, `"3" === python_version`, `((`, `os_name`,
	} {
		f.Add(s, "test")
	}
	env := Target{PythonVersion: "3.11.2"}.MarkerEnv()
	f.Fuzz(func(t *testing.T, marker, extra string) {
		a, errA := EvalMarker(marker, env, []string{extra})
		b, errB := EvalMarker(marker, env, []string{extra})
		if a != b || (errA == nil) != (errB == nil) {
			t.Fatalf("EvalMarker(%q) is not deterministic", marker)
		}
		if errA == nil {
			// A marker that evaluates is one ParseRequirement accepts.
			if _, err := ParseRequirement("x; " + marker); err != nil {
				t.Fatalf("marker %q evaluates but does not parse in a requirement: %v", marker, err)
			}
		}
	})
}

func FuzzCompareVersions(f *testing.F) {
	for _, p := range [][2]string{{"1.0", "1.0.0"}, {"1.0.dev1", "1.0a1"}, {"1!0.1", "2.0+local.7"}, {"x", "1.0"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := CompareVersions(a, b), CompareVersions(b, a)
		if ab != -ba {
			t.Fatalf("CompareVersions(%q, %q) = %d but reversed = %d", a, b, ab, ba)
		}
		if CompareVersions(a, a) != 0 {
			t.Fatalf("CompareVersions(%q, itself) != 0", a)
		}
	})
}

func FuzzParseLinks(f *testing.F) {
	f.Add([]byte(`<a href="../p/x-1.0-py3-none-any.whl#sha256=00" data-requires-python="&gt;=3">x</a><A HREF=y-2.0.tar.gz>`))
	f.Add([]byte(`<a href='`))
	base, err := url.Parse("https://h.test/simple/x/")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, page []byte) {
		for _, l := range ParseLinks(page, base) {
			u, err := url.Parse(l.URL)
			if err != nil || !u.IsAbs() || u.Fragment != "" {
				t.Fatalf("link %q is not an absolute URL without fragment", l.URL)
			}
			if _, ok := ParseFilename(l.File.Name); !ok {
				t.Fatalf("link %q has file name %q that ParseFilename rejects", l.URL, l.File.Name)
			}
		}
	})
}
