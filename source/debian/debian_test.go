package debian_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/hbuild/hbuild/source/debian"
	"github.com/hbuild/hbuild/source/debian/debiantest"
)

func hello(name, version, deps string) debiantest.Package {
	return debiantest.Package{Name: name, Version: version, Depends: deps,
		Files: []debiantest.File{{Path: "usr/share/doc/" + name + "/README", Body: name + " " + version}}}
}

func newArchive(t *testing.T, pkgs []debiantest.Package, srcs []debiantest.Source) (*debiantest.Archive, debian.Options) {
	t.Helper()
	a := debiantest.New(t)
	if err := a.Publish("stable", pkgs, srcs); err != nil {
		t.Fatal(err)
	}
	return a, debian.Options{CacheDir: t.TempDir(), Mirror: a.URL, Suites: []string{"stable"}, Keyring: a.Keyring, Arch: "amd64"}
}

func names(l *debian.Lock) string {
	var out []string
	for _, p := range l.Packages {
		out = append(out, p.Name+"="+p.Version)
	}
	return strings.Join(out, " ")
}

func TestResolve(t *testing.T) {
	pkgs := []debiantest.Package{
		hello("app", "1.0", "libfoo (>= 1.2), awk"),
		hello("libfoo", "1.1", ""),
		hello("libfoo", "1.3", "libc"),
		hello("libc", "2.36", ""),
		{Name: "mawk", Version: "1.3", Provides: "awk", Priority: "required"},
		{Name: "gawk", Version: "5.2", Provides: "awk"},
		hello("alt", "1", "missing-pkg | libc"),
		hello("needs-new", "1", "libc (>= 3.0)"),
		hello("needs-gone", "1", "libbar"),
		hello("top", "1", "needs-gone"),
		{Name: "web", Version: "1", Depends: "httpd"},
		{Name: "nginx", Version: "1", Provides: "httpd (= 1.0)"},
		hello("vneed", "1", "httpd (>= 2.0)"),
		{Name: "x-old", Version: "1", Conflicts: "x-new"},
		hello("x-new", "1", ""),
		hello("x-user", "1", "x-new | x-old"),
		hello("pre", "1", ""),
		{Name: "haspre", Version: "1", PreDepends: "pre"},
		{Name: "archdep", Version: "1", Depends: "libc [amd64], notthere [i386], libc:any"},
		{Name: "other-arch", Version: "1", Arch: "i386"},
		{Name: "common", Version: "1", Arch: "all"},
	}
	_, opts := newArchive(t, pkgs, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		request []string
		want    string
		errHas  []string
	}{
		{"closure picks newest satisfying version, virtual by priority", []string{"app"}, "app=1.0 libc=2.36 libfoo=1.3 mawk=1.3", nil},
		{"requested provider wins over priority", []string{"app", "gawk"}, "app=1.0 gawk=5.2 libc=2.36 libfoo=1.3", nil},
		{"pinned version", []string{"libfoo=1.1"}, "libfoo=1.1", nil},
		{"alternative falls through", []string{"alt"}, "alt=1 libc=2.36", nil},
		{"versioned virtual", []string{"web"}, "nginx=1 web=1", nil},
		{"pre-depends", []string{"haspre"}, "haspre=1 pre=1", nil},
		{"arch qualifiers", []string{"archdep"}, "archdep=1 libc=2.36", nil},
		{"arch all", []string{"common"}, "common=1", nil},
		{"alternative skips a conflicting choice", []string{"x-user", "x-old"}, "x-old=1 x-user=1", nil},
		{"missing dependency names chain", []string{"top"}, "", []string{"needs-gone", `"libbar"`, "no package libbar", "top -> needs-gone"}},
		{"unsatisfiable version", []string{"needs-new"}, "", []string{`"libc (>= 3.0)"`, "libc has only version 2.36"}},
		{"unversioned provide does not satisfy a version", []string{"vneed"}, "", []string{`"httpd (>= 2.0)"`}},
		{"unknown request", []string{"nope"}, "", []string{"cannot install nope", "no package nope"}},
		{"pinned version missing", []string{"libfoo=9"}, "", []string{"libfoo has only version 1.3", "1.1"}},
		{"other architecture", []string{"other-arch"}, "", []string{"no package other-arch for amd64"}},
		{"requested conflict", []string{"x-new", "x-old"}, "", []string{"x-old 1 conflicts with x-new 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := debian.Resolve(ctx, tc.request, opts)
			if tc.errHas != nil {
				if err == nil {
					t.Fatalf("resolved %s, want an error", names(l))
				}
				var re *debian.ResolveError
				if !errors.As(err, &re) {
					t.Fatalf("error %T %v, want *ResolveError", err, err)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(l); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestBadSignature(t *testing.T) {
	a, opts := newArchive(t, []debiantest.Package{hello("a", "1", "")}, nil)
	ctx := context.Background()
	if _, err := debian.Open(ctx, a.URL, "stable", opts); err != nil {
		t.Fatalf("good archive: %v", err)
	}
	block, _ := clearsign.Decode(a.Get("dists/stable/InRelease"))

	t.Run("stranger's key", func(t *testing.T) {
		stranger, err := debiantest.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Resign("stable", stranger, block.Plaintext); err != nil {
			t.Fatal(err)
		}
		_, err = debian.Open(ctx, a.URL, "stable", opts)
		var se *debian.SignatureError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "bad signature") {
			t.Fatalf("got %v, want a bad signature error", err)
		}
		if _, err := debian.Resolve(ctx, []string{"a"}, opts); !errors.As(err, &se) {
			t.Fatalf("Resolve: got %v, want a bad signature error", err)
		}
	})
	t.Run("changed text", func(t *testing.T) {
		if err := a.Resign("stable", a.Key(), block.Plaintext); err != nil {
			t.Fatal(err)
		}
		good := a.Get("dists/stable/InRelease")
		bad := bytes.Replace(good, []byte("Suite: stable"), []byte("Suite: stabla"), 1)
		a.Set("dists/stable/InRelease", bad)
		_, err := debian.Open(ctx, a.URL, "stable", opts)
		var se *debian.SignatureError
		if !errors.As(err, &se) {
			t.Fatalf("got %v, want a bad signature error", err)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		a.Set("dists/stable/InRelease", block.Plaintext)
		_, err := debian.Open(ctx, a.URL, "stable", opts)
		var se *debian.SignatureError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "not clearsigned") {
			t.Fatalf("got %v, want not clearsigned", err)
		}
	})
}

func blobs(t *testing.T, cache string) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(cache, "blobs", "sha256"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestPackagesChecksumMismatch(t *testing.T) {
	a, opts := newArchive(t, []debiantest.Package{hello("a", "1", "")}, nil)
	for _, f := range []string{"Packages.gz", "Packages.xz", "Packages"} {
		p := "dists/stable/main/binary-amd64/" + f
		a.Set(p, append(a.Get(p), 0))
	}
	_, err := debian.Resolve(context.Background(), []string{"a"}, opts)
	var ce *debian.ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a checksum error", err)
	}
	if !strings.Contains(err.Error(), "Packages") {
		t.Errorf("error %q does not name the index", err)
	}
	if b := blobs(t, opts.CacheDir); len(b) != 0 {
		t.Errorf("cache holds %v after a mismatch", b)
	}
}

func TestDebChecksumMismatchAndOffline(t *testing.T) {
	pkg := hello("a", "1", "")
	a, opts := newArchive(t, []debiantest.Package{pkg}, nil)
	ctx := context.Background()
	l, err := debian.Resolve(ctx, []string{"a"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	good := a.Get(debiantest.PoolPath(pkg))
	bad := append([]byte(nil), good...)
	bad[len(bad)-3] ^= 0xff
	a.Set(debiantest.PoolPath(pkg), bad)
	before := len(blobs(t, opts.CacheDir))
	_, err = debian.FetchDebs(ctx, l, opts)
	var ce *debian.ChecksumError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "a_1_amd64.deb") {
		t.Fatalf("got %v, want a checksum error naming a_1_amd64.deb", err)
	}
	if n := len(blobs(t, opts.CacheDir)); n != before {
		t.Fatalf("cache grew from %d to %d blobs after a mismatch", before, n)
	}
	a.Set(debiantest.PoolPath(pkg), good)
	paths, err := debian.FetchDebs(ctx, l, opts)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(paths[0]); err != nil || !bytes.Equal(data, good) {
		t.Fatalf("cached deb differs (%v)", err)
	}
	// Second fetch: from the cache, no request, even offline with no mirror.
	n := a.Requests()
	off := debian.Options{CacheDir: opts.CacheDir, Offline: true}
	if _, err := debian.FetchDebs(ctx, l, off); err != nil {
		t.Fatalf("offline fetch: %v", err)
	}
	if a.Requests() != n {
		t.Errorf("offline fetch made %d requests", a.Requests()-n)
	}
}

func TestLockRoundTrip(t *testing.T) {
	_, opts := newArchive(t, []debiantest.Package{hello("b", "1:2.0-1", "c"), hello("c", "3~rc1", "")}, nil)
	l, err := debian.Resolve(context.Background(), []string{"b"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "base.lock")
	if err := l.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := debian.ReadLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Bytes(), l.Bytes()) || back.Digest() != l.Digest() {
		t.Fatalf("round trip changed the lock:\n%s\n---\n%s", l.Bytes(), back.Bytes())
	}
	if !back.SameRequest([]string{"b", "b"}) || back.SameRequest([]string{"b", "c"}) {
		t.Error("SameRequest is wrong")
	}
	if !strings.Contains(string(l.Bytes()), "\nb 1:2.0-1 amd64 ") {
		t.Errorf("lock lacks the b line:\n%s", l.Bytes())
	}
	for _, bad := range []string{
		"",
		"arch amd64\n",
		debian.LockHeader + "\narch amd64\nx 1 amd64 10 zz pool/x.deb\n",
		debian.LockHeader + "\narch amd64\nx 1 amd64 10 " + strings.Repeat("a", 64) + " ../../etc/passwd\n",
		debian.LockHeader + "\narch amd64\nx 1 amd64 10 " + strings.Repeat("a", 64) + "\n",
		debian.LockHeader + "\narch amd64\n",
	} {
		if _, err := debian.ParseLock(strings.NewReader(bad), "x.lock"); err == nil {
			t.Errorf("ParseLock(%q) succeeded", bad)
		}
	}
}

func TestFetchSource(t *testing.T) {
	up := []byte("upstream tarball bytes")
	a, opts := newArchive(t, nil, []debiantest.Source{{Name: "zlib", Version: "1:1.2.13.dfsg-1", Upstream: up}})
	ctx := context.Background()
	u, err := debian.FetchUpstream(ctx, opts, "zlib", "1:1.2.13.dfsg-1")
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "zlib_1.2.13.dfsg.orig.tar.gz" {
		t.Errorf("name %q", u.Name)
	}
	if data, _ := os.ReadFile(u.Path); !bytes.Equal(data, up) {
		t.Fatal("tarball content differs")
	}
	n := a.Requests()
	p, err := debian.FetchSource(ctx, debian.Options{CacheDir: opts.CacheDir, Offline: true}, "zlib", "1:1.2.13.dfsg-1")
	if err != nil || p != u.Path || a.Requests() != n {
		t.Fatalf("second fetch: %v, %s, %d requests", err, p, a.Requests()-n)
	}
	if _, err := debian.FetchSource(ctx, opts, "zlib", "9.9-1"); err == nil || !strings.Contains(err.Error(), "1:1.2.13.dfsg-1") {
		t.Fatalf("unknown version: %v", err)
	}
	// A tarball that does not match the .dsc is refused.
	a.Set("pool/main/z/zlib/zlib_1.2.13.dfsg.orig.tar.gz", []byte("evil"))
	opts2 := opts
	opts2.CacheDir = t.TempDir()
	_, err = debian.FetchSource(ctx, opts2, "zlib", "1:1.2.13.dfsg-1")
	var ce *debian.ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a checksum error", err)
	}
}

func TestSourcesParsing(t *testing.T) {
	list := `# comment
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://mirror.invalid/debian/ bookworm main contrib
deb-src http://mirror.invalid/debian bookworm main
`
	ms, err := debian.ParseSourcesList(strings.NewReader(list), "sources.list")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].URI != "http://mirror.invalid/debian" || ms[0].Keyring != "/usr/share/keyrings/x.gpg" ||
		strings.Join(ms[0].Components, ",") != "main,contrib" || ms[1].Type != "deb-src" || ms[0].Line != 2 {
		t.Fatalf("got %+v", ms)
	}
	d822 := `Types: deb deb-src
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
Enabled: no
URIs: http://other.invalid/debian
Suites: sid
`
	ms, err = debian.ParseDeb822Sources(strings.NewReader(d822), "debian.sources")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Type != "deb" || strings.Join(ms[0].Suites, " ") != "bookworm bookworm-updates" || ms[1].Type != "deb-src" {
		t.Fatalf("got %+v", ms)
	}
	if _, err := debian.ParseSourcesList(strings.NewReader("rpm http://x/ y\n"), "bad.list"); err == nil || !strings.Contains(err.Error(), "bad.list:1") {
		t.Fatalf("bad type: %v", err)
	}
}

func FuzzParseLock(f *testing.F) {
	f.Add([]byte(debian.LockHeader + "\narch amd64\nsuites a b\nrequest x\nx 1.0-1 amd64 10 " + strings.Repeat("ab", 32) + " pool/main/x/x.deb\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := debian.ParseLock(bytes.NewReader(data), "fuzz.lock")
		if err != nil {
			return
		}
		back, err := debian.ParseLock(bytes.NewReader(l.Bytes()), "again.lock")
		if err != nil {
			t.Fatalf("reparse of canonical form: %v", err)
		}
		if !bytes.Equal(back.Bytes(), l.Bytes()) {
			t.Fatal("canonical form is not stable")
		}
	})
}

func FuzzReadParagraphs(f *testing.F) {
	f.Add([]byte("Package: a\nVersion: 1\nDepends: b (>= 1) | c\nDescription: x\n more\n\nPackage: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = debian.ParsePackages(bytes.NewReader(data), "fuzz")
		_ = debian.ReadParagraphs(bytes.NewReader(data), nil, func(debian.Paragraph, int) error { return nil })
	})
}

func TestValidUntil(t *testing.T) {
	key, err := debiantest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	var signed bytes.Buffer
	w, err := clearsign.Encode(&signed, key.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Suite: stable\nValid-Until: Sat, 01 Jan 2000 00:00:00 UTC\nSHA256:\n "+strings.Repeat("0", 64)+" 0 main/binary-amd64/Packages\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	kr := filepath.Join(t.TempDir(), "k.gpg")
	if err := debiantest.WriteKeyring(key, kr); err != nil {
		t.Fatal(err)
	}
	el, err := debian.LoadKeyring(kr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := debian.VerifyRelease(signed.Bytes(), el, time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatalf("valid release: %v", err)
	}
	if _, err := debian.VerifyRelease(signed.Bytes(), el, time.Now()); err == nil || !strings.Contains(err.Error(), "Valid-Until") {
		t.Fatalf("expired release: %v", err)
	}
}
