package pydist

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestParseLinksSimpleIndex(t *testing.T) {
	page := []byte(`<!DOCTYPE html>
<html>
  <head><meta name="pypi:repository-version" content="1.1"><title>Links for zc.buildout</title></head>
  <body>
    <h1>Links for zc.buildout</h1>
    <a href="../../packages/ab/cd/zc.buildout-3.0.1-py3-none-any.whl#sha256=ABCDEF0123" data-requires-python="&gt;=3.7">zc.buildout-3.0.1-py3-none-any.whl</a><br />
    <a href="../../packages/ab/cd/zc.buildout-3.0.1.tar.gz#sha256=00ff&amp;other=1">zc.buildout-3.0.1.tar.gz</a><br />
    <A HREF='https://files.example.test/zc.buildout-2.13.8.tar.gz#md5=0123456789abcdef' data-yanked="broken">old</A>
    <a href=zc.buildout-1.0.zip>unquoted</a>
    <a data-x="1" href = "zc.buildout-1.0.zip">duplicate</a>
    <a href="zc.buildout-0.1-py2.7.egg">egg</a>
    <a href="zc.buildout-0.1.win32.exe">exe</a>
    <a href="/">root</a>
    <a name="anchor">no href</a>
    <abbr href="zc.buildout-9.9.tar.gz">not a link</abbr>
    <a href="zc.buildout-1.1.tar.gz#sha256=nothex">not hex</a>
    <a href="mailto:someone@example.test">mail</a>
    <a href="http://[::1:bad">bad url</a>
  </body>
</html>`)
	base := mustURL(t, "https://index.example.test/simple/zc-buildout/")
	got := ParseLinks(page, base)
	var urls []string
	for _, l := range got {
		urls = append(urls, l.URL)
	}
	wantURLs := []string{
		"https://index.example.test/packages/ab/cd/zc.buildout-3.0.1-py3-none-any.whl",
		"https://index.example.test/packages/ab/cd/zc.buildout-3.0.1.tar.gz",
		"https://files.example.test/zc.buildout-2.13.8.tar.gz",
		"https://index.example.test/simple/zc-buildout/zc.buildout-1.0.zip",
		"https://index.example.test/simple/zc-buildout/zc.buildout-1.1.tar.gz",
	}
	if !reflect.DeepEqual(urls, wantURLs) {
		t.Fatalf("URLs =\n%q\nwant\n%q", urls, wantURLs)
	}
	if got[0].File.Kind != "wheel" || got[0].File.Version != "3.0.1" || got[0].RequiresPython != ">=3.7" || got[0].Yanked {
		t.Errorf("link 0 = %+v", got[0])
	}
	if !reflect.DeepEqual(got[0].Sums, map[string]string{"sha256": "abcdef0123"}) {
		t.Errorf("link 0 sums = %v", got[0].Sums)
	}
	if !reflect.DeepEqual(got[1].Sums, map[string]string{"sha256": "00ff"}) {
		t.Errorf("link 1 sums = %v", got[1].Sums)
	}
	if !reflect.DeepEqual(got[2].Sums, map[string]string{"md5": "0123456789abcdef"}) || !got[2].Yanked || got[2].File.Version != "2.13.8" {
		t.Errorf("link 2 = %+v", got[2])
	}
	if got[3].Sums != nil || got[3].File.Kind != "sdist" {
		t.Errorf("link 3 = %+v", got[3])
	}
	if got[4].Sums != nil {
		t.Errorf("link 4 sums = %v", got[4].Sums)
	}
}

func TestParseLinksApacheListing(t *testing.T) {
	page := []byte(`<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html>
 <head>
  <title>Index of /eggs</title>
 </head>
 <body>
<h1>Index of /eggs</h1>
  <table>
   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th><th><a href="?C=S;O=A">Size</a></th></tr>
   <tr><th colspan="5"><hr></th></tr>
<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="/">Parent Directory</a></td><td>&nbsp;</td><td align="right">  - </td></tr>
<tr><td valign="top"><img src="/icons/compressed.gif" alt="[   ]"></td><td><a href="lxml-4.9.2.tar.gz">lxml-4.9.2.tar.gz</a></td><td align="right">2023-01-02 10:00  </td><td align="right">3.5M</td></tr>
<tr><td valign="top"><img src="/icons/compressed.gif" alt="[   ]"></td><td><a href="My%20Project-1.0.tar.gz">My Project-1.0.tar.gz</a></td></tr>
<tr><td valign="top"><img src="/icons/compressed.gif" alt="[   ]"></td><td><a href="zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl">zope.interface…</a></td></tr>
<tr><td valign="top"><img src="/icons/folder.gif" alt="[DIR]"></td><td><a href="subdir-1.0.tar.gz/">subdir-1.0.tar.gz/</a></td></tr>
<tr><td valign="top"><img src="/icons/text.gif" alt="[TXT]"></td><td><a href="README.txt">README.txt</a></td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="setuptools-0.6c11-py2.7.egg">setuptools-0.6c11-py2.7.egg</a></td></tr>
   <tr><th colspan="5"><hr></th></tr>
</table>
</body></html>`)
	base := mustURL(t, "http://127.0.0.1:8080/eggs/")
	got := ParseLinks(page, base)
	var names []string
	for _, l := range got {
		names = append(names, l.File.Name+" "+l.URL)
	}
	want := []string{
		"lxml-4.9.2.tar.gz http://127.0.0.1:8080/eggs/lxml-4.9.2.tar.gz",
		"zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl http://127.0.0.1:8080/eggs/zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
	}
	// "My Project-1.0.tar.gz" decodes to a name with a space: not a
	// distribution file name.
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("links =\n%q\nwant\n%q", names, want)
	}
}

func TestParseLinksPercentDecoded(t *testing.T) {
	got := ParseLinks([]byte(`<a href="zc.recipe.egg-2.0.7%2Bhbuild.tar.gz">x</a><a href="foo-1.0.tar.gz">`), mustURL(t, "file:///srv/links/"))
	if len(got) != 2 || got[0].File.Version != "2.0.7+hbuild" || got[0].URL != "file:///srv/links/zc.recipe.egg-2.0.7%2Bhbuild.tar.gz" {
		t.Fatalf("links = %+v", got)
	}
	// A relative link without a base cannot be made absolute.
	if got := ParseLinks([]byte(`<a href="foo-1.0.tar.gz">`), nil); len(got) != 0 {
		t.Errorf("links without base = %+v", got)
	}
	if got := ParseLinks([]byte(`<a href="https://h.test/foo-1.0.tar.gz">`), nil); len(got) != 1 {
		t.Errorf("absolute link without base = %+v", got)
	}
	// Truncated pages do not panic and keep what parsed.
	for _, page := range []string{`<a`, `<a href`, `<a href=`, `<a href="foo-1.0.tar.gz`, `<a href='`, `<a x=1 `} {
		ParseLinks([]byte(page), mustURL(t, "http://h.test/"))
	}
}

func TestSelect(t *testing.T) {
	var files []File
	for _, n := range []string{
		"demo-1.0.tar.gz",
		"demo-1.0-py3-none-any.whl",
		"Demo-1.1.0.tar.gz",
		"demo-1.1-cp311-cp311-manylinux_2_17_x86_64.whl",
		"demo-1.1-py3-none-any.whl",
		"demo-1.1-cp311-cp311-win_amd64.whl",
		"demo-2.0a1.tar.gz",
		"demo-1.5-cp310-cp310-manylinux_2_17_x86_64.whl",
		"demo_other-9.0.tar.gz",
		"other-3.0.tar.gz",
		"demo-2-extra-0.5.tar.gz",
		"python-1-2.0.tar.gz",
	} {
		f, ok := ParseFilename(n)
		if !ok {
			t.Fatalf("ParseFilename(%q) failed", n)
		}
		files = append(files, f)
	}
	py := Target{PythonVersion: "3.11"}
	tests := []struct {
		project, pinned string
		t               Target
		want            string
		picked          bool
		err             string
	}{
		{"demo", "1.0", py, "demo-1.0-py3-none-any.whl", false, ""},
		{"DEMO", "1.0.0", py, "demo-1.0-py3-none-any.whl", false, ""},
		{"demo", "1.1", py, "demo-1.1-cp311-cp311-manylinux_2_17_x86_64.whl", false, ""},
		{"demo", "1.1", Target{PythonVersion: "3.11", Machine: "aarch64"}, "demo-1.1-py3-none-any.whl", false, ""},
		{"demo", "1.1", Target{PythonVersion: "2.7"}, "Demo-1.1.0.tar.gz", false, ""},
		{"demo", "2.0a1", py, "demo-2.0a1.tar.gz", false, ""},
		{"demo", "", py, "demo-1.1-cp311-cp311-manylinux_2_17_x86_64.whl", true, ""},
		{"demo", "3.0", py, "", false, "no distribution of version 3.0 (pinned in [versions]); found versions 2.0a1, 1.5, 1.1, 1.1.0, 1.0"},
		{"demo", "1.5", py, "", false, "only wheels that Python 3.11 on x86_64 cannot install: demo-1.5-cp310-cp310-manylinux_2_17_x86_64.whl"},
		{"demo-2-extra", "0.5", py, "demo-2-extra-0.5.tar.gz", false, ""},
		{"demo-2", "0.5", py, "", false, "no distribution of demo-2 found"},
		{"python-1", "2.0", py, "python-1-2.0.tar.gz", false, ""},
		{"demo-other", "", py, "demo_other-9.0.tar.gz", true, ""},
		{"missing", "1.0", py, "", false, "no distribution of missing found"},
	}
	for _, tc := range tests {
		t.Run(tc.project+"=="+tc.pinned+"@"+tc.t.PythonVersion+tc.t.Machine, func(t *testing.T) {
			got, picked, err := Select(files, tc.project, tc.pinned, tc.t)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tc.want || picked != tc.picked {
				t.Fatalf("Select = %s, picked %v; want %s, picked %v", got.Name, picked, tc.want, tc.picked)
			}
		})
	}
}

func TestSelectPrereleases(t *testing.T) {
	files := func(names ...string) []File {
		var out []File
		for _, n := range names {
			f, _ := ParseFilename(n)
			out = append(out, f)
		}
		return out
	}
	py := Target{PythonVersion: "3.12"}
	got, picked, err := Select(files("p-1.0.tar.gz", "p-2.0b1.tar.gz", "p-1.5.dev3.tar.gz", "p-1.1.post1.tar.gz"), "p", "", py)
	if err != nil || !picked || got.Version != "1.1.post1" {
		t.Errorf("Select = %+v, %v, %v; want 1.1.post1", got, picked, err)
	}
	got, _, err = Select(files("p-2.0b1.tar.gz", "p-2.0a9.tar.gz", "p-2.0rc1.dev1.tar.gz"), "p", "", py)
	if err != nil || got.Version != "2.0rc1.dev1" {
		t.Errorf("only pre-releases: Select = %+v, %v; want 2.0rc1.dev1", got, err)
	}
	_, _, err = Select(files("p-1.0-cp27-cp27mu-manylinux1_x86_64.whl"), "p", "", py)
	if err == nil || !strings.Contains(err.Error(), "cannot install") {
		t.Errorf("only incompatible wheels: err = %v", err)
	}
}
