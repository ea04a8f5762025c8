package pydist

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hbuild/hbuild/internal/testutil"
	"github.com/ulikunitz/xz"
)

// member is an archive member; dir members have no data.
type member struct {
	name string
	data string
	dir  bool
}

func writeZip(t testing.TB, file string, members []member) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		name := m.name
		if m.dir {
			name += "/"
		}
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func tarBytes(t testing.TB, members []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.data)), Typeflag: tar.TypeReg}
		if m.dir {
			h = &tar.Header{Name: m.name + "/", Mode: 0o755, Typeflag: tar.TypeDir}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeTarGz(t testing.TB, file string, members []member) string {
	t.Helper()
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	if _, err := gw.Write(tarBytes(t, members)); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeTarXz(t testing.TB, file string, members []member) string {
	t.Helper()
	var buf bytes.Buffer
	xw, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := xw.Write(tarBytes(t, members)); err != nil {
		t.Fatal(err)
	}
	if err := xw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const wheelMETADATA = `Metadata-Version: 2.1
Name: demo.pkg
Version: 1.2.0
Summary: A demo
Requires-Python: >=3.8
Requires-Dist: requests (>=2.0)
Requires-Dist: importlib-metadata ; python_version < "3.8"
Requires-Dist: pytest>=7; extra == "test"
Requires-Dist: colorama; sys_platform == "win32"
Provides-Extra: test
Description-Content-Type: text/markdown

# demo

Requires-Dist: not-a-header-this-is-the-body
`

const entryPoints = `[console_scripts]
demo = demo.cli:main
demo-admin=demo.admin:run [admin]

# a comment
[gui_scripts]
demo-gui = demo.gui:main
[demo.plugins]
x = demo.x:X
`

func TestReadMetadataWheel(t *testing.T) {
	p := writeZip(t, "demo.pkg-1.2.0-py3-none-any.whl", []member{
		{name: "demo/__init__.py", data: ""},
		{name: "other-0.1.dist-info/METADATA", data: "Metadata-Version: 2.1\nName: other\nVersion: 0.1\n"},
		{name: "demo.pkg-1.2.0.dist-info/METADATA", data: strings.ReplaceAll(wheelMETADATA, "\n", "\r\n")},
		{name: "demo.pkg-1.2.0.dist-info/entry_points.txt", data: entryPoints},
		{name: "demo.pkg-1.2.0.dist-info/RECORD", data: ""},
	})
	m, err := ReadMetadata(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "demo.pkg" || m.Version != "1.2.0" || m.RequiresPython != ">=3.8" || m.HasSetupPy || m.TopDir != "" {
		t.Errorf("metadata = %+v", m)
	}
	var reqs []string
	for _, r := range m.Requires {
		reqs = append(reqs, r.String())
	}
	want := []string{`requests>=2.0`, `importlib-metadata; python_version < "3.8"`, `pytest>=7; extra == "test"`, `colorama; sys_platform == "win32"`}
	if !reflect.DeepEqual(reqs, want) {
		t.Errorf("Requires = %q, want %q", reqs, want)
	}
	wantEP := map[string]map[string]string{
		"console_scripts": {"demo": "demo.cli:main", "demo-admin": "demo.admin:run"},
		"gui_scripts":     {"demo-gui": "demo.gui:main"},
		"demo.plugins":    {"x": "demo.x:X"},
	}
	if !reflect.DeepEqual(m.EntryPoints, wantEP) {
		t.Errorf("EntryPoints = %v, want %v", m.EntryPoints, wantEP)
	}
	env := Target{PythonVersion: "3.11"}.MarkerEnv()
	app, err := m.Applicable(env, []string{"test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(app) != 2 || app[0].Name != "requests" || app[1].Name != "pytest" {
		t.Errorf("Applicable = %v", app)
	}
}

// setuptoolsSdist is a setuptools sdist whose PKG-INFO has no Requires-Dist
// and whose egg-info (under src/) has requires.txt and entry_points.txt.
func setuptoolsSdist(top string) []member {
	return []member{
		{name: top, dir: true},
		{name: top + "/PKG-INFO", data: "Metadata-Version: 1.2\nName: foo\nVersion: 2.0.1\nSummary: x\nDescription: line one\n        line two\n"},
		{name: top + "/setup.py", data: "from setuptools import setup\nsetup()\n"},
		{name: top + "/setup.cfg", data: ""},
		{name: top + "/src", dir: true},
		{name: top + "/src/foo", dir: true},
		{name: top + "/src/foo/__init__.py", data: ""},
		{name: top + "/src/foo.egg-info", dir: true},
		{name: top + "/src/foo.egg-info/PKG-INFO", data: "Metadata-Version: 1.2\nName: foo\nVersion: 2.0.1\n"},
		{name: top + "/src/foo.egg-info/requires.txt", data: "six>=1.0\nzope.interface\n\n[:python_version < \"3.8\"]\nimportlib-metadata\n\n[test]\npytest\nmock; os_name == \"nt\" or os_name == \"posix\"\n\n[win:sys_platform == \"win32\"]\npywin32\n"},
		{name: top + "/src/foo.egg-info/entry_points.txt", data: "[console_scripts]\nfoo = foo.main:run\n"},
	}
}

func TestReadMetadataSdist(t *testing.T) {
	wantReqs := []string{
		`six>=1.0`,
		`zope.interface`,
		`importlib-metadata; python_version < "3.8"`,
		`pytest; extra == "test"`,
		`mock; (os_name == "nt" or os_name == "posix") and (extra == "test")`,
		`pywin32; (sys_platform == "win32") and (extra == "win")`,
	}
	for _, tc := range []struct {
		file  string
		write func(testing.TB, string, []member) string
	}{
		{"foo-2.0.1.tar.gz", writeTarGz},
		{"foo-2.0.1.tgz", writeTarGz},
		{"foo-2.0.1.tar.xz", writeTarXz},
		{"foo-2.0.1.zip", writeZip},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m, err := ReadMetadata(tc.write(t, tc.file, setuptoolsSdist("foo-2.0.1")))
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != "foo" || m.Version != "2.0.1" || !m.HasSetupPy || m.TopDir != "foo-2.0.1" {
				t.Errorf("metadata = %+v", m)
			}
			var reqs []string
			for _, r := range m.Requires {
				reqs = append(reqs, r.String())
			}
			if !reflect.DeepEqual(reqs, wantReqs) {
				t.Errorf("Requires =\n%q\nwant\n%q", reqs, wantReqs)
			}
			if got := m.EntryPoints["console_scripts"]["foo"]; got != "foo.main:run" {
				t.Errorf("console script foo = %q", got)
			}
			check := func(env map[string]string, extras []string, want ...string) {
				t.Helper()
				app, err := m.Applicable(env, extras)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range app {
					got = append(got, r.Name)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Applicable(%v, %q) = %q, want %q", env["python_version"], extras, got, want)
				}
			}
			check(Target{PythonVersion: "3.11"}.MarkerEnv(), nil, "six", "zope.interface")
			check(Target{PythonVersion: "3.7"}.MarkerEnv(), nil, "six", "zope.interface", "importlib-metadata")
			check(Target{PythonVersion: "3.11"}.MarkerEnv(), []string{"test", "win"}, "six", "zope.interface", "pytest", "mock")
		})
	}
}

func TestReadMetadataSdistBzip2(t *testing.T) {
	bz := testutil.RequireTool(t, "bzip2")
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "foo-2.0.1.tar")
	if err := os.WriteFile(tarPath, tarBytes(t, setuptoolsSdist("foo-2.0.1")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bz, "-k", tarPath).CombinedOutput(); err != nil {
		t.Fatalf("bzip2: %v: %s", err, out)
	}
	m, err := ReadMetadata(tarPath + ".bz2")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "foo" || len(m.Requires) != 6 || m.TopDir != "foo-2.0.1" || !m.HasSetupPy {
		t.Errorf("metadata = %+v", m)
	}
}

func TestReadMetadataSdistVariants(t *testing.T) {
	t.Run("PKG-INFO with Requires-Dist wins over requires.txt", func(t *testing.T) {
		p := writeTarGz(t, "bar-1.0.tar.gz", []member{
			{name: "bar-1.0/PKG-INFO", data: "Metadata-Version: 2.1\nName: bar\nVersion: 1.0\nRequires-Dist: alpha>=1\n"},
			{name: "bar-1.0/bar.egg-info/requires.txt", data: "beta\n"},
			{name: "bar-1.0/bar.egg-info/entry_points.txt", data: "[console_scripts]\nbar = bar:main\n"},
			{name: "bar-1.0/pyproject.toml", data: ""},
		})
		m, err := ReadMetadata(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Requires) != 1 || m.Requires[0].Name != "alpha" || m.HasSetupPy || m.TopDir != "bar-1.0" {
			t.Errorf("metadata = %+v", m)
		}
		if m.EntryPoints["console_scripts"]["bar"] != "bar:main" {
			t.Errorf("EntryPoints = %v", m.EntryPoints)
		}
	})
	t.Run("no metadata: the file name gives name and version", func(t *testing.T) {
		p := writeTarGz(t, "Raw.Project-0.3.tar.gz", []member{
			{name: "./raw-0.3/setup.py", data: "x"},
			{name: "./raw-0.3/raw.py", data: "x"},
		})
		m, err := ReadMetadata(p)
		if err != nil {
			t.Fatal(err)
		}
		if m.Name != "Raw.Project" || m.Version != "0.3" || !m.HasSetupPy || m.TopDir != "raw-0.3" || m.Requires != nil {
			t.Errorf("metadata = %+v", m)
		}
	})
	t.Run("several top-level entries", func(t *testing.T) {
		p := writeZip(t, "flat-1.0.zip", []member{
			{name: "setup.py", data: "x"},
			{name: "flat/__init__.py", data: ""},
		})
		m, err := ReadMetadata(p)
		if err != nil {
			t.Fatal(err)
		}
		if m.TopDir != "" || m.HasSetupPy {
			t.Errorf("metadata = %+v", m)
		}
	})
	t.Run("egg-info of the project among several", func(t *testing.T) {
		p := writeTarGz(t, "multi-1.0.tar.gz", []member{
			{name: "multi-1.0/PKG-INFO", data: "Name: multi\nVersion: 1.0\n"},
			{name: "multi-1.0/aaa.egg-info/requires.txt", data: "wrong\n"},
			{name: "multi-1.0/multi.egg-info/requires.txt", data: "right\n"},
		})
		m, err := ReadMetadata(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Requires) != 1 || m.Requires[0].Name != "right" {
			t.Errorf("Requires = %v", m.Requires)
		}
	})
}

func TestReadMetadataErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "x-1.0.tar.gz")
	if err := os.WriteFile(garbage, []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	notZip := filepath.Join(dir, "x-1.0-py3-none-any.whl")
	if err := os.WriteFile(notZip, []byte("not zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", maxMetaFile+1)
	cases := map[string]string{
		"missing":        filepath.Join(dir, "nope-1.0.tar.gz"),
		"unknown suffix": filepath.Join(dir, "x-1.0.egg"),
		"garbage gzip":   garbage,
		"garbage wheel":  notZip,
		"wheel without METADATA": writeZip(t, "w-1.0-py3-none-any.whl", []member{
			{name: "w/__init__.py"}}),
		"wheel without Version": writeZip(t, "w-1.0-py3-none-any.whl", []member{
			{name: "w-1.0.dist-info/METADATA", data: "Name: w\n"}}),
		"bad header": writeZip(t, "w-1.0-py3-none-any.whl", []member{
			{name: "w-1.0.dist-info/METADATA", data: "Name: w\nnonsense\n"}}),
		"bad Requires-Dist": writeZip(t, "w-1.0-py3-none-any.whl", []member{
			{name: "w-1.0.dist-info/METADATA", data: "Name: w\nVersion: 1.0\nRequires-Dist: x; bogus\n"}}),
		"bad entry points": writeZip(t, "w-1.0-py3-none-any.whl", []member{
			{name: "w-1.0.dist-info/METADATA", data: "Name: w\nVersion: 1.0\n"},
			{name: "w-1.0.dist-info/entry_points.txt", data: "orphan = a:b\n"}}),
		"bad requires.txt section": writeTarGz(t, "s-1.0.tar.gz", []member{
			{name: "s-1.0/s.egg-info/requires.txt", data: "[:bogus marker]\nx\n"}}),
		"bad requires.txt line": writeTarGz(t, "s-1.0.tar.gz", []member{
			{name: "s-1.0/s.egg-info/requires.txt", data: "x >= \n"}}),
		"huge metadata file": writeTarGz(t, "s-1.0.tar.gz", []member{
			{name: "s-1.0/PKG-INFO", data: big}}),
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := ReadMetadata(p)
			if err == nil {
				t.Fatalf("ReadMetadata = %+v, want an error", m)
			}
			if !strings.Contains(err.Error(), filepath.Base(p)) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestReadMetadataHostilePaths(t *testing.T) {
	// Members that climb out or are absolute are ignored; links and
	// devices are never read; nothing is written to disk.
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	for _, h := range []*tar.Header{
		{Name: "../evil/PKG-INFO", Typeflag: tar.TypeReg, Size: 0, Mode: 0o644},
		{Name: "/abs/setup.py", Typeflag: tar.TypeReg, Size: 0, Mode: 0o644},
		{Name: "p-1.0/PKG-INFO", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		{Name: "p-1.0/setup.py", Typeflag: tar.TypeReg, Size: 0, Mode: 0o644},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "p-1.0.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ReadMetadata(p)
	if err != nil {
		t.Fatal(err)
	}
	// "abs" is a second top-level entry, so there is no single top dir.
	if m.Name != "p" || m.Version != "1.0" || m.TopDir != "" || m.HasSetupPy {
		t.Errorf("metadata = %+v", m)
	}
}
