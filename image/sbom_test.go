package image

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

var testSBOMInput = SBOMInput{
	Name: "xml",
	Parts: append(testParts, PartInfo{Name: "libxml2", Version: "2.9.14", License: "MIT", Sources: []SourceInfo{
		{URL: "https://example.org/libxml2-2.9.14.tar.xz", Checksums: map[string]string{"sha256": "AA11"}},
		{URL: "https://example.org/fix.patch", Checksums: map[string]string{"md5": "bb22", "sha512": "cc33"}},
	}}),
	Base: []BasePackage{{Name: "libc6", Version: "2.36-9+deb12u9", Arch: "amd64"}, {Name: "base-files", Version: "12.4+deb12u10"}},
}

func TestSBOM(t *testing.T) {
	img := testImage(t, nil)
	d, _ := img.Digest()
	b, err := SBOM(img, testSBOMInput)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := SBOM(img, testSBOMInput)
	if !bytes.Equal(b, again) {
		t.Error("SBOM not deterministic")
	}
	var doc spdxDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" || doc.SPDXID != "SPDXRef-DOCUMENT" ||
		doc.CreationInfo.Created != "2024-01-02T03:04:05Z" || !strings.Contains(doc.DocumentNamespace, d.String()) {
		t.Errorf("document header %+v", doc)
	}
	pkgs := map[string]spdxPackage{}
	for _, p := range doc.Packages {
		if _, dup := pkgs[p.SPDXID]; dup {
			t.Errorf("duplicate SPDXID %s", p.SPDXID)
		}
		pkgs[p.SPDXID] = p
	}
	zlib := pkgs["SPDXRef-Part-zlib"]
	if zlib.VersionInfo != "1.3.1" || zlib.LicenseDeclared != "Zlib" || zlib.DownloadLocation != "https://example.org/zlib-1.3.1.tar.gz" ||
		len(zlib.Checksums) != 1 || zlib.Checksums[0] != (spdxChecksum{"SHA256", "abcd"}) || !strings.Contains(zlib.Comment, "1111") {
		t.Errorf("zlib %+v", zlib)
	}
	if h := pkgs["SPDXRef-Part-hello"]; h.LicenseDeclared != noAssertion || h.DownloadLocation != noAssertion {
		t.Errorf("hello %+v", h)
	}
	if p := pkgs["SPDXRef-Source-libxml2-2"]; p.DownloadLocation != "https://example.org/fix.patch" || len(p.Checksums) != 2 || p.Checksums[0].Algorithm != "MD5" {
		t.Errorf("libxml2 patch %+v", p)
	}
	if p := pkgs["SPDXRef-Source-libxml2-1"]; len(p.Checksums) != 1 || p.Checksums[0].Value != "aa11" {
		t.Errorf("libxml2 source %+v", p)
	}
	libc := pkgs["SPDXRef-Deb-libc6-amd64"]
	if libc.VersionInfo != "2.36-9+deb12u9" || libc.ExternalRefs[0].Locator != "pkg:deb/debian/libc6@2.36-9+deb12u9?arch=amd64" {
		t.Errorf("libc6 %+v", libc)
	}
	if p := pkgs["SPDXRef-Image"]; p.Checksums[0].Value != d.Hex || p.PrimaryPackagePurpse != "CONTAINER" {
		t.Errorf("image %+v", p)
	}
	rels := map[string]bool{}
	for _, r := range doc.Relationships {
		if _, ok := pkgs[r.Related]; !ok {
			t.Errorf("relationship to unknown %s", r.Related)
		}
		rels[r.Element+" "+r.Type+" "+r.Related] = true
	}
	for _, r := range []string{
		"SPDXRef-DOCUMENT DESCRIBES SPDXRef-Image",
		"SPDXRef-Image CONTAINS SPDXRef-Part-zlib",
		"SPDXRef-Image CONTAINS SPDXRef-Deb-base-files-",
		"SPDXRef-Part-libxml2 GENERATED_FROM SPDXRef-Source-libxml2-1",
	} {
		if !rels[r] {
			t.Errorf("missing relationship %s", r)
		}
	}
}

// referrer is the part of an artifact manifest the tests check.
type referrer struct {
	ArtifactType string         `json:"artifactType"`
	Subject      *v1.Descriptor `json:"subject"`
	Layers       []v1.Descriptor
	Config       v1.Descriptor
}

func TestAttachSBOMLayout(t *testing.T) {
	ctx := context.Background()
	img := testImage(t, nil)
	d, _ := img.Digest()
	sbom, err := SBOM(img, testSBOMInput)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	dest := "oci-layout:" + dir + ":xml"
	if _, err := Write(ctx, img, dest); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // attaching twice adds one referrer
		ad, file, err := AttachSBOM(ctx, img, dest, sbom)
		if err != nil {
			t.Fatal(err)
		}
		if file != dir+"-xml.spdx.json" {
			t.Errorf("file %s", file)
		}
		if b, err := os.ReadFile(file); err != nil || !bytes.Equal(b, sbom) {
			t.Errorf("SBOM file: %v", err)
		}
		idx := readIndex(t, dir)
		if len(idx.Manifests) != 2 {
			t.Fatalf("index %+v", idx.Manifests)
		}
		desc := idx.Manifests[1]
		if desc.ArtifactType != MediaTypeSPDX || desc.Digest.String() != ad {
			t.Errorf("descriptor %+v, artifact %s", desc, ad)
		}
		raw, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", desc.Digest.Hex))
		if err != nil {
			t.Fatal(err)
		}
		var r referrer
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if r.ArtifactType != MediaTypeSPDX || r.Subject == nil || r.Subject.Digest != d || len(r.Layers) != 1 || r.Config.MediaType != mediaTypeEmpty {
			t.Errorf("artifact %s", raw)
		}
		blob, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", r.Layers[0].Digest.Hex))
		if err != nil || !bytes.Equal(blob, sbom) {
			t.Errorf("SBOM blob: %v", err)
		}
	}
	// The image is still what an untagged Load finds.
	got, err := Load(ctx, "oci-layout:"+dir)
	if err != nil {
		t.Fatal(err)
	}
	if gd, _ := got.Digest(); gd != d {
		t.Errorf("loaded %s, want %s", gd, d)
	}
	// Beside a docker archive: a file.
	file := filepath.Join(t.TempDir(), "x.tar")
	if _, err := Write(ctx, img, "docker-archive:"+file); err != nil {
		t.Fatal(err)
	}
	if _, f, err := AttachSBOM(ctx, img, "docker-archive:"+file, sbom); err != nil || f != file+".spdx.json" {
		t.Errorf("archive: %s %v", f, err)
	}
	if _, _, err := AttachSBOM(ctx, img, "containerd:///nowhere.sock", sbom); err == nil {
		t.Error("containerd: no error")
	}
}

func TestAttachSBOMRegistry(t *testing.T) {
	ctx := context.Background()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := registryHost(t, registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	img := testImage(t, nil)
	d, _ := img.Digest()
	sbom, _ := SBOM(img, testSBOMInput)
	dest := host + "/hbuild/xml:1"
	if _, err := Write(ctx, img, dest); err != nil {
		t.Fatal(err)
	}
	ad, file, err := AttachSBOM(ctx, img, dest, sbom)
	if err != nil || file != "" {
		t.Fatalf("%s %v", file, err)
	}
	repo, _ := name.NewRepository(host + "/hbuild/xml")
	idx, err := remote.Referrers(repo.Digest(d.String()))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != ad || im.Manifests[0].ArtifactType != MediaTypeSPDX {
		t.Fatalf("referrers %+v, want %s", im.Manifests, ad)
	}
}

func TestCopy(t *testing.T) {
	ctx := context.Background()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := registryHost(t, registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	img := testImage(t, nil)
	d, _ := img.Digest()
	sbom, _ := SBOM(img, testSBOMInput)
	src := "oci-layout:" + filepath.Join(t.TempDir(), "out") + ":xml"
	if _, err := Write(ctx, img, src); err != nil {
		t.Fatal(err)
	}
	sd, _, err := AttachSBOM(ctx, img, src, sbom)
	if err != nil {
		t.Fatal(err)
	}
	reg := "docker://" + host + "/hbuild/xml:1"
	for _, c := range []struct{ from, to, sbom string }{
		{src, reg, sd},
		{reg, "oci-layout:" + filepath.Join(t.TempDir(), "back") + ":v", ""},
		{src, "docker-archive:" + filepath.Join(t.TempDir(), "x.tar"), ""},
	} {
		res, err := Copy(ctx, c.from, c.to)
		if err != nil {
			t.Fatalf("%s -> %s: %v", c.from, c.to, err)
		}
		if res.Digest != d.String() || res.SBOM != c.sbom {
			t.Errorf("%s -> %s: %+v, want %s and SBOM %q", c.from, c.to, res, d, c.sbom)
		}
	}
	if _, err := Copy(ctx, "oci-layout:"+filepath.Join(t.TempDir(), "none"), reg); err == nil {
		t.Error("missing source: no error")
	}
	if _, err := Copy(ctx, src, "nowhere:x"); err == nil || !strings.Contains(err.Error(), "unknown scheme") {
		t.Errorf("bad destination: %v", err)
	}
}
