package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiagnoseNamesHostLibrary(t *testing.T) {
	root := t.TempDir()
	write := func(p, content string) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("usr/include/libxml2/libxml/xmlversion.h", "")
	write("usr/lib/x86_64-linux-gnu/libxslt.so", "")
	write("var/lib/dpkg/info/libxml2-dev:amd64.list", "/.\n/usr\n/usr/include/libxml2/libxml/xmlversion.h\n")
	write("var/lib/dpkg/info/libxslt1-dev:amd64.list", "/usr/lib/x86_64-linux-gnu/libxslt.so\n")
	log := `gcc -c src/lxml/etree.c
src/lxml/includes/etree_defs.h:14:10: fatal error: libxml/xmlversion.h: No such file or directory
compilation terminated.
src/lxml/includes/etree_defs.h:14:10: fatal error: libxml/xmlversion.h: No such file or directory
/usr/bin/ld: cannot find -lxslt: No such file or directory
/usr/bin/ld: cannot find -lfoo
sh: 1: xslt-config: not found
`
	got := diagnose([]byte(log), root)
	if len(got) != 4 {
		t.Fatalf("got %d findings, want 4 (each once): %+v", len(got), got)
	}
	want := []Missing{
		{Kind: "header", Name: "libxml/xmlversion.h", Library: "libxml2", Host: "/usr/include/libxml2/libxml/xmlversion.h", Package: "libxml2-dev:amd64"},
		{Kind: "library", Name: "-lxslt", Library: "libxslt", Host: "/usr/lib/x86_64-linux-gnu/libxslt.so", Package: "libxslt1-dev:amd64"},
		{Kind: "library", Name: "-lfoo", Library: "libfoo"},
		{Kind: "program", Name: "xslt-config"},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("finding %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	msg := (&PartError{Part: "lxml-python", Step: "build", ExitCode: 1, Missing: got}).Error()
	for _, s := range []string{"header libxml/xmlversion.h (libxml2)", "Debian package libxml2-dev:amd64", "which builds never see", "not in the sandbox"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q:\n%s", s, msg)
		}
	}
	// lxml's own message when xslt-config is missing, and pkg-config's.
	write("usr/lib/x86_64-linux-gnu/libxml2.so", "")
	write("usr/lib/x86_64-linux-gnu/pkgconfig/libxml-2.0.pc", "")
	write("var/lib/dpkg/info/libxml2-dev:amd64.list", "/usr/include/libxml2/libxml/xmlversion.h\n/usr/lib/x86_64-linux-gnu/libxml2.so\n/usr/lib/x86_64-linux-gnu/pkgconfig/libxml-2.0.pc\n")
	got = diagnose([]byte("Building lxml version 4.9.2.\nError: Please make sure the libxml2 and libxslt development packages are installed.\n"+
		"Package libxml-2.0 was not found in the pkg-config search path.\n"), root)
	want = []Missing{
		{Kind: "library", Name: "libxml2", Library: "libxml2", Host: "/usr/lib/x86_64-linux-gnu/libxml2.so", Package: "libxml2-dev:amd64"},
		{Kind: "library", Name: "libxslt", Library: "libxslt", Host: "/usr/lib/x86_64-linux-gnu/libxslt.so", Package: "libxslt1-dev:amd64"},
		{Kind: "pkg-config module", Name: "libxml-2.0", Library: "libxml2", Host: "/usr/lib/x86_64-linux-gnu/pkgconfig/libxml-2.0.pc", Package: "libxml2-dev:amd64"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("finding %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if diagnose([]byte("make: *** [all] Error 2\n"), root) != nil {
		t.Error("a log without a missing file gave findings")
	}
}
