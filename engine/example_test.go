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

	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// TestExampleXML builds examples/xml (zlib -> libxml2 -> libxslt from
// Debian's upstream tarballs) twice, with separate caches, and checks what
// the issue asks of it. It is the slow test of this package: two builds.
func TestExampleXML(t *testing.T) {
	profilePath, err := filepath.Abs("../examples/xml/hbuild.cfg")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cacheA := t.TempDir()
	e, _ := realEngine(t, cacheA, Options{})
	pl := planReal(t, e, profilePath)
	res, err := e.Build(ctx, pl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Built, " ") != "libxml2 libxslt zlib" || len(res.Images) != 1 {
		t.Fatalf("built %v, images %+v", res.Built, res.Images)
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
		golden, err := os.ReadFile("testdata/xml.digest")
		if err != nil {
			t.Fatalf("read the golden digest: %v (scripts/update-golden.sh writes it)", err)
		}
		if want := strings.TrimSpace(string(golden)); digestA != want {
			t.Fatalf("examples/xml image digest %s, golden %s: if the layer format changed on purpose, run scripts/update-golden.sh", digestA, want)
		}
	})
}
