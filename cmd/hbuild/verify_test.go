package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hbuild/hbuild/image"
	"github.com/hbuild/hbuild/internal/testutil"
	"github.com/hbuild/hbuild/policy"
	"github.com/hbuild/hbuild/rootfs"
	"github.com/hbuild/hbuild/source/debian"
)

// compileC compiles a C program into out with gcc.
func compileC(t *testing.T, out, src string, args ...string) {
	t.Helper()
	testutil.RequireTool(t, "gcc")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	c := filepath.Join(t.TempDir(), "a.c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("gcc", append([]string{"-o", out, c}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
}

// runHbuild runs the CLI in-process and returns its exit status and stdout.
func runHbuild(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	code := exitCode(cmd.ExecuteContext(context.Background()))
	return code, out.String()
}

const (
	verifyHello = "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n"
	verifyXML   = "#include <libxml/parser.h>\nint main(void){xmlInitParser();return 0;}\n"
)

func TestVerifyDir(t *testing.T) {
	testutil.RequireTool(t, "gcc")
	good := t.TempDir()
	compileC(t, filepath.Join(good, "bin", "hello"), verifyHello)
	bad := t.TempDir()
	compileC(t, filepath.Join(bad, "bin", "xml"), verifyXML, "-I/usr/include/libxml2", "-lxml2")

	for _, tc := range []struct {
		name string
		args []string
		code int
		has  string
	}{
		{"glibc only", []string{"verify", good}, 0, "libc.so.6 => - (base, via glibc)"},
		{"run-time path", []string{"verify", "--path", "/opt/hbuild/parts/hello", good}, 0, "/opt/hbuild/parts/hello/bin/hello"},
		{"host libxml2", []string{"verify", bad}, 1, "declare a part that provides libxml2.so.2 and add its lib directory to RPATH"},
		{"warn-only", []string{"verify", "--warn-only", bad}, 0, "warnings (warn-only)"},
		{"brief", []string{"verify", "--brief", bad}, 1, "violations:\n" + bad + "/bin/xml: needs libxml2.so.2: not found"},
		{"allowed", []string{"verify", "--allow-lib", "libxml2.so.*", bad}, 0, "libxml2.so.2 => - (allowed, via allow-libs)"},
		{"ignored", []string{"verify", "--ignore", "bin", bad}, 0, "0 ELF files"},
		{"max glibc", []string{"verify", "--max-glibc", "2.17", good}, 1, "above the policy maximum 2.17"},
		{"bad mode", []string{"verify", "--mode", "x", good}, 2, ""},
		{"bad dep", []string{"verify", "--dep", "nodir", good}, 2, ""},
		{"neither dir nor image", []string{"verify", filepath.Join(good, "missing")}, 2, ""},
		{"no argument", []string{"verify"}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runHbuild(t, tc.args...)
			if code != tc.code {
				t.Fatalf("hbuild %v: exit %d, want %d\n%s", tc.args, code, tc.code, out)
			}
			if !strings.Contains(out, tc.has) {
				t.Errorf("hbuild %v: output lacks %q\n%s", tc.args, tc.has, out)
			}
		})
	}

	code, out := runHbuild(t, "verify", "--json", bad)
	var r policy.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if code != 1 || len(r.Violations) != 1 || r.Violations[0].Needed != "libxml2.so.2" || r.Violations[0].Kind != policy.KindNotFound {
		t.Errorf("--json: exit %d, report %+v", code, r)
	}
}

// rootWithGlibc lays out a merged-/usr file system with the host's glibc.
func rootWithGlibc(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, lib := range []string{"libc.so.6", "ld-linux-x86-64.so.2"} {
		b, err := os.ReadFile("/usr/lib/x86_64-linux-gnu/" + lib)
		testutil.Require(t, err == nil, "an x86_64 Debian-style host glibc")
		dst := filepath.Join(root, "usr/lib/x86_64-linux-gnu", lib)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"etc", "usr/lib64"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"lib": "usr/lib", "lib64": "usr/lib64",
		"usr/lib64/ld-linux-x86-64.so.2": "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// dirLayer writes dir as an image layer placed at prefix.
func dirLayer(t *testing.T, dir, prefix string) v1.Layer {
	t.Helper()
	blob := filepath.Join(t.TempDir(), "layer.tar.gz")
	info, err := image.WriteLayerFile(context.Background(), dir, blob, image.LayerOptions{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	l, err := image.LayerFromFile(blob, info)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// ociLayout writes root as a one-layer image in an OCI layout.
func ociLayout(t *testing.T, root string) string {
	t.Helper()
	return writeLayout(t, dirLayer(t, root, ""))
}

// writeLayout writes an image of layers (bottom first) to an OCI layout
// tagged "test".
func writeLayout(t *testing.T, layers ...v1.Layer) string {
	t.Helper()
	ctx := context.Background()
	img, err := image.Assemble(layers[:1], layers[1:], image.Config{Platform: "linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "layout")
	if _, err := image.Write(ctx, img, "oci-layout:"+dest+":test"); err != nil {
		t.Fatal(err)
	}
	return dest
}

func TestVerifyImage(t *testing.T) {
	testutil.RequireTool(t, "gcc")
	// An hbuild-style image: glibc and a part under /opt/hbuild that finds
	// its dependency's library through RUNPATH.
	good := rootWithGlibc(t)
	dep := filepath.Join(good, "opt/hbuild/parts/dep/lib")
	compileC(t, filepath.Join(dep, "libdep.so.1"), "int dep(void){return 0;}\n", "-shared", "-fPIC", "-Wl,-soname,libdep.so.1")
	compileC(t, filepath.Join(good, "opt/hbuild/parts/app/bin/app"), "int dep(void);\nint main(void){return dep();}\n",
		"-L"+dep, "-l:libdep.so.1", "-Wl,-rpath,/opt/hbuild/parts/dep/lib")
	// A Debian-style image: a program using libxml2 from the archive.
	deb := rootWithGlibc(t)
	compileC(t, filepath.Join(deb, "usr/bin/xmlprog"), verifyXML, "-I/usr/include/libxml2", "-lxml2")
	b, err := os.ReadFile("/usr/lib/x86_64-linux-gnu/libxml2.so.2")
	testutil.Require(t, err == nil, "libxml2 installed (libxml2-dev)")
	if err := os.WriteFile(filepath.Join(deb, "usr/lib/x86_64-linux-gnu/libxml2.so.2"), b, 0o644); err != nil {
		t.Fatal(err)
	}

	goodLayout, debLayout := ociLayout(t, good), ociLayout(t, deb)
	for _, tc := range []struct {
		name string
		args []string
		code int
		has  string
	}{
		{"hbuild image", []string{"verify", "oci-layout:" + goodLayout + ":test"}, 0, "libdep.so.1 => /opt/hbuild/parts/dep/lib/libdep.so.1 (part, via RUNPATH)"},
		{"layout directory", []string{"verify", goodLayout}, 0, "0 violation(s)"},
		{"debian image", []string{"verify", "oci-layout:" + debLayout}, 1, "/usr/bin/xmlprog: needs libxml2.so.2: found at /usr/lib/x86_64-linux-gnu/libxml2.so.2"},
		{"extracted tree", []string{"verify", deb}, 1, "(a host library)"},
		{"as a part", []string{"verify", "--mode", "part", good}, 1, "outside the part"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runHbuild(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.has) {
				t.Fatalf("hbuild %v: exit %d (want %d), output lacks %q?\n%s", tc.args, code, tc.code, tc.has, out)
			}
		})
	}
}

// realBaseCache is shared with the rootfs tests: bases and downloads are
// flock-safe, so the .debs are fetched once per machine.
const realBaseCache = "/var/tmp/hbuild-test/cache"

// realBase builds a Debian base of packages from the host's apt sources.
func realBase(t *testing.T, name string, packages ...string) *rootfs.Base {
	t.Helper()
	m, err := debian.DefaultMirror()
	testutil.Require(t, err == nil, "the host's apt sources name a Debian mirror")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, m.URI+"/dists/"+m.Suites[0]+"/InRelease", nil)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	testutil.Require(t, err == nil && resp.StatusCode == http.StatusOK, "Debian's archive from the host's apt sources must be reachable")
	if err := os.MkdirAll(realBaseCache, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := rootfs.Options{CacheDir: realBaseCache, LockDir: t.TempDir(), Events: func(s string) { t.Log(s) }}
	bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer bcancel()
	b, err := rootfs.Build(bctx, packages, filepath.Join(opts.LockDir, name+".lock"), opts)
	if err != nil {
		t.Fatalf("build base %s: %v", name, err)
	}
	return b
}

func baseLayer(t *testing.T, b *rootfs.Base) v1.Layer {
	t.Helper()
	l, err := image.LayerFromFile(b.Layer, &image.LayerInfo{Digest: b.Digest, DiffID: b.DiffID, Size: b.Size, MediaType: b.MediaType})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestVerifyRealDebianImages is the proof on real Debian bases: an
// image made of the glibc runtime base and a part linked through RUNPATH
// passes; a Debian image with libxml2 from the archive reports the
// libraries it takes from the base (ICU, zlib, liblzma) as host libraries.
func TestVerifyRealDebianImages(t *testing.T) {
	testutil.RequireTool(t, "gcc")
	glibc := realBase(t, "glibc", rootfs.GlibcPackages...)
	if r, err := policy.CheckRoot(glibc.Dir, policy.DefaultOptions()); err != nil || !r.OK() || len(r.Files) == 0 {
		var b bytes.Buffer
		if r != nil {
			_ = r.Text(&b)
		}
		t.Fatalf("the glibc runtime base itself: %v\n%s", err, b.String())
	}

	app := t.TempDir()
	dep := filepath.Join(app, "dep", "lib")
	compileC(t, filepath.Join(dep, "libdep.so.1"), "int dep(void){return 0;}\n", "-shared", "-fPIC", "-Wl,-soname,libdep.so.1")
	compileC(t, filepath.Join(app, "app", "bin", "app"), "#include <stdio.h>\nint dep(void);\nint main(void){puts(\"hi\");return dep();}\n",
		"-L"+dep, "-l:libdep.so.1", "-Wl,-rpath,/opt/hbuild/parts/dep/lib")
	good := writeLayout(t, baseLayer(t, glibc),
		dirLayer(t, filepath.Join(app, "dep"), "opt/hbuild/parts/dep"),
		dirLayer(t, filepath.Join(app, "app"), "opt/hbuild/parts/app"))
	if code, out := runHbuild(t, "verify", "oci-layout:"+good+":test"); code != 0 ||
		!strings.Contains(out, "libdep.so.1 => /opt/hbuild/parts/dep/lib/libdep.so.1 (part, via RUNPATH)") ||
		!strings.Contains(out, "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (base, via default)") {
		t.Fatalf("hbuild-style image on the glibc base: exit %d\n%s", code, out)
	}

	deb := realBase(t, "libxml2", "libc6", "libxml2-utils")
	bad := writeLayout(t, baseLayer(t, deb))
	code, out := runHbuild(t, "verify", "--json", "oci-layout:"+bad+":test")
	var r policy.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if code != 1 {
		t.Fatalf("Debian image with libxml2: exit %d", code)
	}
	host := map[string]bool{}
	xmllint := false
	for _, v := range r.Violations {
		if v.Kind == policy.KindHostLibrary {
			host[v.Needed] = true
			xmllint = xmllint || v.File == "/usr/bin/xmllint" && strings.HasPrefix(v.Needed, "libxml2.so.")
		}
	}
	if !xmllint {
		t.Errorf("xmllint's libxml2 not reported as a host library; host libraries: %v", host)
	}
	for _, lib := range []string{"libz.so.1", "liblzma.so.5"} {
		if !host[lib] {
			t.Errorf("%s (needed by libxml2) not reported as a host library; host libraries: %v", lib, host)
		}
	}
	if host["libc.so.6"] || host["libm.so.6"] {
		t.Errorf("glibc reported as a host library: %v", host)
	}
}
