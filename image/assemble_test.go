package image

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layerOf writes a layer of the files (name → content) under prefix.
func layerOf(t *testing.T, prefix string, files map[string]string) v1.Layer {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(t.TempDir(), "layer.tar.gz")
	info, err := WriteLayerFile(context.Background(), dir, dst, LayerOptions{Prefix: prefix, Epoch: testEpoch})
	if err != nil {
		t.Fatal(err)
	}
	l, err := LayerFromFile(dst, info)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var testParts = []PartInfo{
	{Name: "zlib", Key: "1111", Version: "1.3.1", License: "Zlib", Sources: []SourceInfo{{URL: "https://example.org/zlib-1.3.1.tar.gz", Checksums: map[string]string{"sha256": "abcd"}}}},
	{Name: "hello", Key: "2222"},
}

func testImage(t *testing.T, extra map[string]string) v1.Image {
	t.Helper()
	base := layerOf(t, "", map[string]string{"etc/os-release": "ID=test\n"})
	files := map[string]string{"bin/hello": "#!/bin/sh\necho hello\n"}
	for k, v := range extra {
		files[k] = v
	}
	parts := []v1.Layer{
		layerOf(t, "opt/hbuild/parts/zlib", map[string]string{"lib/libz.so.1": "z"}),
		layerOf(t, "opt/hbuild/parts/hello", files),
	}
	img, err := Assemble([]v1.Layer{base}, parts, Config{
		Entrypoint:  []string{"/opt/hbuild/parts/hello/bin/hello"},
		Env:         []string{"PATH=/opt/hbuild/parts/hello/bin:/usr/bin:/bin"},
		WorkDir:     "/",
		Labels:      map[string]string{"com.example.team": "build"},
		Annotations: map[string]string{ocispec.AnnotationSource: "https://example.org/repo", ocispec.AnnotationRevision: "abc123", "com.example.note": "n"},
		Created:     testEpoch,
		Parts:       testParts,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return img
}

func TestAssemble(t *testing.T) {
	img := testImage(t, nil)
	mt, _ := img.MediaType()
	if mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s", mt)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 3 {
		t.Errorf("manifest %+v", m)
	}
	for _, l := range m.Layers {
		if l.MediaType != MediaTypeGzip {
			t.Errorf("layer media type %s", l.MediaType)
		}
	}
	want := map[string]string{
		ocispec.AnnotationCreated:  "2024-01-02T03:04:05Z",
		ocispec.AnnotationSource:   "https://example.org/repo",
		ocispec.AnnotationRevision: "abc123",
		"com.example.note":         "n",
	}
	if len(m.Annotations) != len(want) {
		t.Errorf("annotations %v", m.Annotations)
	}
	for k, v := range want {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cf.Created.Time.Equal(testEpoch) || cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("config created %s platform %s/%s", cf.Created, cf.OS, cf.Architecture)
	}
	if len(cf.History) != 3 || cf.History[1].Comment != "part zlib (key 1111)" || cf.History[2].Comment != "part hello (key 2222)" || !cf.History[0].Created.Time.Equal(testEpoch) {
		t.Errorf("history %+v", cf.History)
	}
	labels := cf.Config.Labels
	wantLabels := map[string]string{
		"com.example.team":             "build",
		ocispec.AnnotationSource:       "https://example.org/repo",
		ocispec.AnnotationRevision:     "abc123",
		LabelParts:                     "zlib hello",
		LabelFormat:                    FormatVersion,
		"org.hbuild.part.zlib.key":     "1111",
		"org.hbuild.part.hello.key":    "2222",
		"org.hbuild.part.zlib.sources": `[{"url":"https://example.org/zlib-1.3.1.tar.gz","checksums":{"sha256":"abcd"}}]`,
	}
	if len(labels) != len(wantLabels) {
		t.Errorf("labels %v", labels)
	}
	for k, v := range wantLabels {
		if labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, labels[k], v)
		}
	}
	if strings.Join(cf.Config.Entrypoint, " ") != "/opt/hbuild/parts/hello/bin/hello" || cf.Config.WorkingDir != "/" {
		t.Errorf("config %+v", cf.Config)
	}
	// Same inputs, same digest.
	d1, _ := img.Digest()
	d2, _ := testImage(t, nil).Digest()
	if d1 != d2 {
		t.Errorf("digests differ: %s %s", d1, d2)
	}
}

func TestAssembleDefaultsAndErrors(t *testing.T) {
	l := layerOf(t, "", map[string]string{"f": "x"})
	img, err := Assemble(nil, []v1.Layer{l}, Config{Platform: "linux/arm64/v8"})
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	if !cf.Created.Time.Equal(DefaultEpoch) || cf.Architecture != "arm64" || cf.Variant != "v8" || cf.Config.Labels != nil {
		t.Errorf("config %+v", cf)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Platform: "linux"}, "want os/arch"},
		{Config{Env: []string{"NOEQUALS"}}, "want NAME=value"},
		{Config{Parts: testParts}, "1 part layers but 2 part descriptions"},
	} {
		if _, err := Assemble(nil, []v1.Layer{l}, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestPartLabelsEmpty(t *testing.T) {
	l := PartLabels(nil)
	if l[LabelParts] != "" || l[LabelFormat] != FormatVersion || len(l) != 2 {
		t.Errorf("labels %v", l)
	}
}
