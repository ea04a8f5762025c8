package pydist

import (
	"reflect"
	"testing"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"Django":             "django",
		"zc.buildout":        "zc-buildout",
		"zc.recipe.egg":      "zc-recipe-egg",
		"Foo__Bar-.-baz":     "foo-bar-baz",
		"friendly-bard":      "friendly-bard",
		"FRIENDLY_BARD":      "friendly-bard",
		"friendly.bard":      "friendly-bard",
		"Friendly-._.-Bard":  "friendly-bard",
		"lxml":               "lxml",
		"":                   "",
		"importlib_metadata": "importlib-metadata",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseFilename(t *testing.T) {
	tests := []struct {
		name string
		want File
	}{
		{"lxml-4.9.2.tar.gz", File{Name: "lxml-4.9.2.tar.gz", Project: "lxml", Version: "4.9.2", Kind: "sdist"}},
		{"zc.buildout-3.0.1.tgz", File{Name: "zc.buildout-3.0.1.tgz", Project: "zc.buildout", Version: "3.0.1", Kind: "sdist"}},
		{"Django-4.2.TAR.BZ2", File{Name: "Django-4.2.TAR.BZ2", Project: "Django", Version: "4.2", Kind: "sdist"}},
		{"zope.interface-6.0.tar.xz", File{Name: "zope.interface-6.0.tar.xz", Project: "zope.interface", Version: "6.0", Kind: "sdist"}},
		{"my-project-name-1.0rc1.zip", File{Name: "my-project-name-1.0rc1.zip", Project: "my-project-name", Version: "1.0rc1", Kind: "sdist"}},
		{"python-3parclient-4.2.0.tar.gz", File{Name: "python-3parclient-4.2.0.tar.gz", Project: "python-3parclient", Version: "4.2.0", Kind: "sdist"}},
		{"foo-1.0-2.tar.gz", File{Name: "foo-1.0-2.tar.gz", Project: "foo", Version: "1.0-2", Kind: "sdist"}},
		{"foo-bar-1.0beta-custom.tar.gz", File{Name: "foo-bar-1.0beta-custom.tar.gz", Project: "foo-bar", Version: "1.0beta-custom", Kind: "sdist"}},
		{"foo-2-bar-1.0custom.tar.gz", File{Name: "foo-2-bar-1.0custom.tar.gz", Project: "foo-2-bar", Version: "1.0custom", Kind: "sdist"}},
		{"six-1.16.0-py2.py3-none-any.whl", File{Name: "six-1.16.0-py2.py3-none-any.whl", Project: "six", Version: "1.16.0", Kind: "wheel",
			Python: []string{"py2", "py3"}, ABI: []string{"none"}, Platform: []string{"any"}}},
		{"zc.buildout-3.0.1-py3-none-any.whl", File{Name: "zc.buildout-3.0.1-py3-none-any.whl", Project: "zc.buildout", Version: "3.0.1", Kind: "wheel",
			Python: []string{"py3"}, ABI: []string{"none"}, Platform: []string{"any"}}},
		{"zope_interface-6.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", File{
			Name: "zope_interface-6.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", Project: "zope_interface", Version: "6.0", Kind: "wheel",
			Python: []string{"cp311"}, ABI: []string{"cp311"}, Platform: []string{"manylinux_2_17_x86_64", "manylinux2014_x86_64"}}},
		{"pkg-1.0-1build-py3-none-any.whl", File{Name: "pkg-1.0-1build-py3-none-any.whl", Project: "pkg", Version: "1.0", Kind: "wheel", Build: "1build",
			Python: []string{"py3"}, ABI: []string{"none"}, Platform: []string{"any"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseFilename(tc.name)
			if !ok {
				t.Fatal("not recognised")
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
	for _, name := range []string{
		"", "lxml", "lxml.tar.gz", "lxml-.tar.gz", "lxml-x.tar.gz", "-1.0.tar.gz",
		"setuptools-0.6c11-py2.7.egg", "pywin32-214.win32-py2.7.exe", "foo-1.0.msi", "foo-1.0-1.noarch.rpm",
		"foo-1.0.tar", "README.txt", "index.html", "foo-1.0-py3-none.whl", "foo-1.0-x-py3-none-any.whl",
		"foo-1.0-a-b-py3-none-any.whl", "-1.0-py3-none-any.whl", "foo--py3-none-any.whl",
		"dir/foo-1.0.tar.gz", "foo 1.0.tar.gz",
	} {
		if f, ok := ParseFilename(name); ok {
			t.Errorf("ParseFilename(%q) = %#v, want not recognised", name, f)
		}
	}
}

func TestSplitSdistFor(t *testing.T) {
	f, ok := SplitSdistFor("foo-2-bar-1.0.tar.gz", "foo_2")
	if !ok || f.Project != "foo-2" || f.Version != "bar-1.0" {
		t.Errorf("SplitSdistFor = %#v, %v", f, ok)
	}
	f, ok = SplitSdistFor("Zope.Interface-6.0.zip", "zope-interface")
	if !ok || f.Project != "Zope.Interface" || f.Version != "6.0" {
		t.Errorf("SplitSdistFor = %#v, %v", f, ok)
	}
	for _, c := range [][2]string{{"foo-1.0.tar.gz", "bar"}, {"foo-.tar.gz", "foo"}, {"foo-1.0.whl", "foo"}, {"foobar-1.0.tar.gz", "foo"}} {
		if f, ok := SplitSdistFor(c[0], c[1]); ok {
			t.Errorf("SplitSdistFor(%q, %q) = %#v, want false", c[0], c[1], f)
		}
	}
}

func TestCompatible(t *testing.T) {
	py311 := Target{PythonVersion: "3.11.4"}
	arm := Target{PythonVersion: "3.11", Machine: "aarch64"}
	py37 := Target{PythonVersion: "3.7"}
	tests := []struct {
		name string
		t    Target
		want bool
	}{
		{"a-1.0.tar.gz", py311, true},
		{"a-1.0-py3-none-any.whl", py311, true},
		{"a-1.0-py2.py3-none-any.whl", py311, true},
		{"a-1.0-py2-none-any.whl", py311, false},
		{"a-1.0-py311-none-any.whl", py311, true},
		{"a-1.0-py38-none-any.whl", py311, true},
		{"a-1.0-py312-none-any.whl", py311, false},
		{"a-1.0-py3-none-linux_x86_64.whl", py311, true},
		{"a-1.0-py3-none-win_amd64.whl", py311, false},
		{"a-1.0-py3-none-macosx_10_9_x86_64.whl", py311, false},
		{"a-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", py311, true},
		{"a-1.0-cp311-cp311-manylinux1_x86_64.whl", py311, true},
		{"a-1.0-cp311-cp311-manylinux2010_x86_64.whl", py311, true},
		{"a-1.0-cp311-cp311-linux_x86_64.whl", py311, true},
		{"a-1.0-cp311-cp311-musllinux_1_1_x86_64.whl", py311, false},
		{"a-1.0-cp311-cp311-manylinux_2_17_aarch64.whl", py311, false},
		{"a-1.0-cp311-cp311-manylinux_2_17_aarch64.whl", arm, true},
		{"a-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", arm, false},
		{"a-1.0-cp310-cp310-manylinux_2_17_x86_64.whl", py311, false},
		{"a-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", py311, false},
		{"a-1.0-cp38-abi3-manylinux_2_17_x86_64.whl", py311, true},
		{"a-1.0-cp311-abi3-manylinux_2_17_x86_64.whl", py311, true},
		{"a-1.0-cp312-abi3-manylinux_2_17_x86_64.whl", py311, false},
		{"a-1.0-cp311-none-any.whl", py311, true},
		{"a-1.0-cp311-cp311-win_amd64.whl", py311, false},
		{"a-1.0-cp311-cp311-any.whl", py311, false},
		{"a-1.0-pp39-pypy39_pp73-manylinux_2_17_x86_64.whl", py311, false},
		{"a-1.0-cp37-cp37m-manylinux1_x86_64.whl", py37, true},
		{"a-1.0-cp37-cp37-manylinux1_x86_64.whl", py37, true},
		{"a-1.0-cp311-cp311m-manylinux1_x86_64.whl", py311, false},
		{"a-1.0-py3-none-any.whl", Target{PythonVersion: "bogus"}, false},
	}
	for _, tc := range tests {
		f, ok := ParseFilename(tc.name)
		if !ok {
			t.Fatalf("ParseFilename(%q) failed", tc.name)
		}
		if got := tc.t.Compatible(f); got != tc.want {
			t.Errorf("%+v.Compatible(%s) = %v, want %v", tc.t, tc.name, got, tc.want)
		}
	}
	if (Target{PythonVersion: "3.11"}).Compatible(File{Name: "x.egg", Kind: "egg"}) {
		t.Error("an egg is compatible")
	}
}

func TestMarkerEnv(t *testing.T) {
	env := Target{PythonVersion: "3.11.2"}.MarkerEnv()
	want := map[string]string{
		"os_name": "posix", "sys_platform": "linux", "platform_system": "Linux",
		"platform_machine": "x86_64", "implementation_name": "cpython",
		"platform_python_implementation": "CPython", "python_version": "3.11",
		"python_full_version": "3.11.2", "implementation_version": "3.11.2",
		"platform_release": "", "platform_version": "",
	}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("MarkerEnv = %v, want %v", env, want)
	}
	env = Target{PythonVersion: "3.12", Machine: "aarch64"}.MarkerEnv()
	if env["python_version"] != "3.12" || env["python_full_version"] != "3.12" || env["platform_machine"] != "aarch64" {
		t.Errorf("MarkerEnv = %v", env)
	}
}
