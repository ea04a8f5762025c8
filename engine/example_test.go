package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/hbuild/hbuild/cache"
	"github.com/hbuild/hbuild/internal/testutil"
)

// TestExampleXML builds examples/xml (zlib -> libxml2 -> libxslt from
// Debian's upstream tarballs) twice, with separate caches, and checks what
// the issue asks of it. It is the slow test of this package: two builds.
// The first build is machine A of the shared cache (issue 8): it pushes its
// parts to a loopback docker-registry; machine B, with an empty cache and
// offline, pulls every part and builds none; machine C, after one layer blob
// was altered in the registry, rebuilds that part (libxslt, on zlib and libxml2 pulled without their trees) and pulls the rest.
func TestExampleXML(t *testing.T) {
	profilePath, err := filepath.Abs("../examples/xml/hbuild.cfg")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The shared cache: machine A (the first build) pushes every part it
	// builds; Build returns once the pushes are done.
	regHost, regStorage := testutil.StartRegistryStorage(t)
	cacheRef := regHost + "/hbuild-cache"
	cacheA := t.TempDir()
	e, evA := realEngine(t, cacheA, Options{})
	e.Remote = openRegistryCache(t, cacheRef, cache.ModeReadWrite)
	pl := planReal(t, e, profilePath)
	res, err := e.Build(ctx, pl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Built, " ") != "libxml2 libxslt zlib" || len(res.Images) != 1 {
		t.Fatalf("built %v, images %+v", res.Built, res.Images)
	}
	if w := remoteWarnings(evA); len(w) != 0 {
		t.Fatalf("machine A: remote cache warnings %v", w)
	}
	digestA := res.Images[0].Digest
	img, err := e.Image(ctx, pl, pl.Part("xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}

	t.Run("xsltproc runs against the built parts", func(t *testing.T) {
		var out bytes.Buffer
		if _, err := e.RunLoaded(ctx, img, RunOptions{Args: []string{"xsltproc", "--version"}, Stdout: &out, Stderr: &out}); err != nil {
			t.Fatalf("xsltproc --version: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "Using libxml 20914, libxslt 10135") {
			t.Fatalf("xsltproc --version said %q", out.String())
		}
		out.Reset()
		if _, err := e.RunLoaded(ctx, img, RunOptions{Args: []string{"/opt/hbuild/parts/libxml2/bin/xmllint", "--version"}, Stdout: &out, Stderr: &out}); err != nil {
			t.Fatalf("xmllint --version: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "using libxml version 20914") {
			t.Fatalf("xmllint --version said %q", out.String())
		}
	})

	t.Run("second build builds nothing", func(t *testing.T) {
		e2, _ := realEngine(t, cacheA, Options{BuildPart: func(_ context.Context, b *PartBuild) error {
			return fmt.Errorf("%s rebuilt", b.Part.Name)
		}})
		res, err := e2.Build(ctx, planReal(t, e2, profilePath), nil)
		if err != nil || len(res.Built) != 0 || len(res.Cached) != 3 || res.Images[0].Digest != digestA {
			t.Fatalf("%+v %v", res, err)
		}
	})

	t.Run("machine B builds nothing: every part comes from the registry", func(t *testing.T) {
		// A fresh cache directory, no network for sources, the shared
		// cache read-only: a part built here would fail.
		eB, evB := realEngine(t, t.TempDir(), Options{Offline: true, BuildPart: func(_ context.Context, b *PartBuild) error {
			return fmt.Errorf("%s built on machine B", b.Part.Name)
		}})
		eB.Remote = openRegistryCache(t, cacheRef, cache.ModeRead)
		plB := planReal(t, eB, profilePath)
		resB, err := eB.Build(ctx, plB, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(resB.Built) != 0 || strings.Join(resB.Cached, " ") != "libxml2 libxslt zlib" || len(resB.Images) != 1 {
			t.Fatalf("machine B: built %v, cached %v, images %+v", resB.Built, resB.Cached, resB.Images)
		}
		// Only the image part starts: it is assembled, never cached.
		if got := evB.parts(EvStarted); strings.Join(got, " ") != "xml" {
			t.Fatalf("machine B started %v, want only the image xml", got)
		}
		if w := evB.parts(EvWarning); len(w) != 0 {
			t.Fatalf("machine B: warnings for %v", w)
		}
		samePartsAs(t, e, eB, plB, "libxml2", "libxslt", "zlib")
		if resB.Images[0].Digest != digestA || digestA != goldenXML(t) {
			t.Fatalf("machine B image %s, machine A %s, golden %s", resB.Images[0].Digest, digestA, goldenXML(t))
		}
	})

	t.Run("a tampered entry is rebuilt, the others are pulled", func(t *testing.T) {
		// Alter one byte of libxslt's layer blob in the registry's storage
		// (same size: the registry serves it as it is).
		entX, err := e.Store.Get(pl.Part("libxslt").Key)
		if err != nil || entX == nil {
			t.Fatalf("libxslt not in machine A's store: %v", err)
		}
		flipMiddleByte(t, testutil.RegistryBlobPath(regStorage, entX.Meta.Layer.Digest))
		// Machine C: a fresh cache directory, online (libxslt's source is
		// fetched again), the shared cache read-only. zlib and libxml2 are
		// pulled without their trees, which libxslt's build then needs:
		// they are unpacked for it.
		eC, evC := realEngine(t, t.TempDir(), Options{})
		eC.Remote = openRegistryCache(t, cacheRef, cache.ModeRead)
		plC := planReal(t, eC, profilePath)
		resC, err := eC.Build(ctx, plC, nil)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(resC.Built, " ") != "libxslt" || strings.Join(resC.Cached, " ") != "libxml2 zlib" || len(resC.Images) != 1 {
			t.Fatalf("machine C: built %v, cached %v", resC.Built, resC.Cached)
		}
		if got := evC.parts(EvStarted); strings.Join(got, " ") != "libxslt xml" {
			t.Fatalf("machine C started %v, want libxslt and xml", got)
		}
		w := remoteWarnings(evC)
		if len(w) != 1 || w["libxslt"] == nil {
			t.Fatalf("machine C: remote cache warnings %v, want one for libxslt", w)
		}
		if line := w["libxslt"][0]; len(w["libxslt"]) != 1 || !strings.Contains(line, "digest") || !strings.Contains(line, "building it here") {
			t.Fatalf("machine C: libxslt's warning %q, want a digest mismatch and a local build", w["libxslt"])
		}
		if !eC.Remote.Available() {
			t.Fatal("a tampered entry marked the registry unavailable")
		}
		samePartsAs(t, e, eC, plC, "libxml2", "libxslt", "zlib")
		if resC.Images[0].Digest != goldenXML(t) {
			t.Fatalf("machine C image %s, golden %s", resC.Images[0].Digest, goldenXML(t))
		}
	})

	t.Run("host libxml2 is invisible, the declared part works", func(t *testing.T) {
		dir := t.TempDir()
		prog := "printf '#include <libxml/parser.h>\\nint main(void) { xmlInitParser(); xmlCleanupParser(); return 0; }\\n' > x.c"
		files := map[string]string{
			"host.cfg": fmt.Sprintf(`[buildout]
extends = %s
parts = uses-xml
[uses-xml]
recipe = build
script =
  %s
  gcc -I/usr/include/libxml2 -o x x.c -lxml2
`, profilePath, prog),
			"declared.cfg": fmt.Sprintf(`[buildout]
extends = %s
parts = uses-xml
[uses-xml]
recipe = build
script =
  %s
  mkdir -p $location/bin
  gcc $(${libxml2:location}/bin/xml2-config --cflags) -o $location/bin/x x.c $(${libxml2:location}/bin/xml2-config --libs) -Wl,-rpath=${libxml2:location}/lib
`, profilePath, prog),
		}
		for n, c := range files {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := e.Build(ctx, planReal(t, e, filepath.Join(dir, "host.cfg")), nil)
		var pe *PartError
		if !errors.As(err, &pe) || pe.Part != "uses-xml" || !strings.Contains(strings.Join(pe.Tail, "\n"), "libxml/parser.h: No such file or directory") {
			t.Fatalf("building against the host's libxml2: %v", err)
		}
		res, err := e.Build(ctx, planReal(t, e, filepath.Join(dir, "declared.cfg")), nil)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(res.Built, " ") != "uses-xml" || strings.Join(res.Cached, " ") != "libxml2 zlib" {
			t.Fatalf("built %v cached %v", res.Built, res.Cached)
		}
	})

	t.Run("golden digest", func(t *testing.T) {
		eB, _ := realEngine(t, t.TempDir(), Options{})
		resB, err := eB.Build(ctx, planReal(t, eB, profilePath), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resB.Images[0].Digest != digestA {
			t.Fatalf("two builds with separate caches: %s != %s", resB.Images[0].Digest, digestA)
		}
		if want := goldenXML(t); digestA != want {
			t.Fatalf("examples/xml image digest %s, golden %s: if the layer format changed on purpose, run scripts/update-golden.sh", digestA, want)
		}
	})
}

// goldenXML is the committed image digest of examples/xml.
func goldenXML(t *testing.T) string { return golden(t, "xml") }

// golden is the recorded image digest of examples/NAME.
func golden(t *testing.T, name string) string {
	t.Helper()
	golden, err := os.ReadFile("testdata/" + name + ".digest")
	if err != nil {
		t.Fatalf("read the golden digest: %v (scripts/update-golden.sh writes it)", err)
	}
	return strings.TrimSpace(string(golden))
}

// openRegistryCache opens the shared cache on the test's loopback
// registry, with no credentials from the host.
func openRegistryCache(t *testing.T, ref, mode string) *cache.Remote {
	t.Helper()
	// Trees are deferred, as hbuild build does: a pulled dependency is
	// unpacked only when a build needs it.
	r, err := cache.OpenRemote(ref, cache.RemoteOptions{Insecure: true, Mode: mode, Keychain: authn.NewMultiKeychain(), DeferTrees: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// remoteWarnings are the shared cache's warnings of a build, by part.
func remoteWarnings(l *eventLog) map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]string{}
	for _, ev := range l.evs {
		if ev.Kind == EvWarning && strings.Contains(ev.Line, "remote cache") {
			out[ev.Part] = append(out[ev.Part], ev.Line)
		}
	}
	return out
}

// samePartsAs checks that the store of b holds the named parts with the
// layers of a's.
func samePartsAs(t *testing.T, a, b *Engine, pl *Plan, parts ...string) {
	t.Helper()
	for _, n := range parts {
		k := pl.Part(n).Key
		ea, errA := a.Store.Get(k)
		eb, errB := b.Store.Get(k)
		if ea == nil || eb == nil {
			t.Fatalf("%s: in A's store %v (%v), in B's %v (%v)", n, ea != nil, errA, eb != nil, errB)
		}
		if ea.Meta.Layer != eb.Meta.Layer {
			t.Fatalf("%s: layer %+v, machine A's %+v", n, eb.Meta.Layer, ea.Meta.Layer)
		}
	}
}

// flipMiddleByte changes one byte of a file in place, keeping its size.
func flipMiddleByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the registry's blob: %v", err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
