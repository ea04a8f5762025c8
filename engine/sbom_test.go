package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSandboxImageSBOM: every image written to an output gets an SPDX SBOM
// naming its parts (with their sources) and the base's Debian packages,
// written beside the OCI layout and attached in it as an artifact whose
// subject is the image.
func TestSandboxImageSBOM(t *testing.T) {
	f := newFixture(t)
	path := f.profile(t, "")
	layout := filepath.Join(t.TempDir(), "out")
	e, _ := realEngine(t, t.TempDir(), Options{Jobs: 2, Outputs: []string{"oci-layout:" + layout + ":img"}})
	ctx := context.Background()
	res, err := e.Build(ctx, planReal(t, e, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 {
		t.Fatalf("images %+v", res.Images)
	}
	raw, err := os.ReadFile(layout + "-img.spdx.json")
	if err != nil {
		t.Fatalf("no SBOM beside the layout: %v", err)
	}
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name             string `json:"name"`
			VersionInfo      string `json:"versionInfo"`
			DownloadLocation string `json:"downloadLocation"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, p := range doc.Packages {
		names[p.Name] = p.DownloadLocation
	}
	if doc.SPDXVersion != "SPDX-2.3" {
		t.Errorf("spdxVersion %q", doc.SPDXVersion)
	}
	if loc, ok := names["hello"]; !ok || !strings.Contains(loc, "hello-1.0.tar.gz") {
		t.Errorf("SBOM lacks part hello with its source: %v", names)
	}
	if _, ok := names["libc6"]; !ok {
		t.Errorf("SBOM lacks the base's libc6: %v", names)
	}
	// The layout holds the artifact, with the image as its subject.
	idx, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(idx), "application/spdx+json") {
		t.Errorf("no SBOM artifact in the layout's index:\n%s", idx)
	}
}
