package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseLocation(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Location
	}{
		{"oci-layout:out", Location{Scheme: "oci-layout", Path: "out"}},
		{"oci-layout:out/dir:xml", Location{Scheme: "oci-layout", Path: "out/dir", Ref: "xml"}},
		{"oci:/abs:v1", Location{Scheme: "oci-layout", Path: "/abs", Ref: "v1"}},
		{"docker-archive:x.tar", Location{Scheme: "docker-archive", Path: "x.tar"}},
		{"docker-archive:x.tar:localhost:5000/a/b:v1", Location{Scheme: "docker-archive", Path: "x.tar", Ref: "localhost:5000/a/b:v1"}},
		{"docker://localhost:5000/xml", Location{Scheme: "docker", Ref: "localhost:5000/xml"}},
		{"docker://registry.internal/a/xml:v2?insecure", Location{Scheme: "docker", Ref: "registry.internal/a/xml:v2", Insecure: true}},
		{"127.0.0.1:5000/xml:1", Location{Scheme: "docker", Ref: "127.0.0.1:5000/xml:1"}},
		{"localhost/xml", Location{Scheme: "docker", Ref: "localhost/xml"}},
		{"containerd:///run/c.sock", Location{Scheme: "containerd", Path: "/run/c.sock", Namespace: "default"}},
		{"containerd:///run/c.sock?namespace=k8s.io&name=localhost/x:1", Location{Scheme: "containerd", Path: "/run/c.sock", Namespace: "k8s.io", Ref: "localhost/x:1"}},
	} {
		got, err := ParseLocation(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if *got != c.want {
			t.Errorf("%s: %+v, want %+v", c.in, *got, c.want)
		}
		again, err := ParseLocation(got.String())
		if err != nil || *again != *got {
			t.Errorf("%s: String %q parses as %+v, %v", c.in, got.String(), again, err)
		}
	}
}

func TestUnknownScheme(t *testing.T) {
	img := testImage(t, nil)
	for _, dest := range []string{"s3://bucket/x", "ftp:out", "xml", "xml:latest", "oci-layout:", "docker-archive:", "docker:x", "containerd://", "containerd:///s?color=red", "docker://localhost:5000/x?secure", "docker://UPPER/Case"} {
		_, err := Write(context.Background(), img, dest)
		if err == nil {
			t.Errorf("%s: no error", dest)
			continue
		}
		if _, lerr := Load(context.Background(), dest); lerr == nil {
			t.Errorf("%s: Load: no error", dest)
		}
		if strings.Contains(dest, "://") && !strings.HasPrefix(dest, "docker") && !strings.HasPrefix(dest, "containerd") || dest == "xml" || dest == "ftp:out" {
			for _, s := range []string{"unknown scheme", "oci-layout:DIR[:tag]", "docker-archive:FILE[:ref]", "docker://REF", "containerd://SOCKET"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%s: error %q does not mention %q", dest, err, s)
				}
			}
		}
	}
}

func readIndex(t *testing.T, dir string) v1.IndexManifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestLayoutOutput(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "out")
	img1 := testImage(t, nil)
	img2 := testImage(t, map[string]string{"share/doc": "v2"})
	d1, err := Write(ctx, img1, "oci-layout:"+dir+":xml")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := img1.Digest(); d1 != want.String() {
		t.Errorf("digest %s, want %s", d1, want)
	}
	if _, err := Write(ctx, img1, "oci-layout:"+dir+":other"); err != nil {
		t.Fatal(err)
	}
	// Writing the same tag again replaces it.
	d2, err := Write(ctx, img2, "oci-layout:"+dir+":xml")
	if err != nil {
		t.Fatal(err)
	}
	// Untagged writes are not duplicated.
	for i := 0; i < 2; i++ {
		if _, err := Write(ctx, img2, "oci-layout:"+dir); err != nil {
			t.Fatal(err)
		}
	}
	idx := readIndex(t, dir)
	var got []string
	for _, m := range idx.Manifests {
		got = append(got, m.Annotations[ocispec.AnnotationRefName]+"="+m.Digest.String())
		if m.Platform == nil || m.Platform.OS != "linux" || m.Platform.Architecture != "amd64" {
			t.Errorf("descriptor platform %+v", m.Platform)
		}
	}
	want := []string{"other=" + d1, "xml=" + d2, "=" + d2}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("index %v, want %v", got, want)
	}
	for tag, d := range map[string]string{"xml": d2, "other": d1} {
		img, err := Load(ctx, "oci-layout:"+dir+":"+tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(img); err != nil {
			t.Fatal(err)
		}
		if got, _ := img.Digest(); got.String() != d {
			t.Errorf("%s: loaded %s, want %s", tag, got, d)
		}
	}
	if _, err := Load(ctx, "oci-layout:"+dir+":missing"); err == nil || !strings.Contains(err.Error(), `no image tagged "missing"`) {
		t.Errorf("missing tag: %v", err)
	}
	if _, err := Load(ctx, "oci-layout:"+dir); err == nil || !strings.Contains(err.Error(), "3 images") {
		t.Errorf("ambiguous: %v", err)
	}
	// No temporary files are left in the layout.
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if strings.Contains(filepath.Base(p), ".tmp-") {
			t.Errorf("left over %s", p)
		}
		return nil
	})
}

func TestArchiveOutput(t *testing.T) {
	ctx := context.Background()
	img := testImage(t, nil)
	want, _ := img.Digest()
	for _, ref := range []string{"", "localhost/hbuild/xml:1"} {
		file := filepath.Join(t.TempDir(), "xml.tar")
		dest := "docker-archive:" + file
		if ref != "" {
			dest += ":" + ref
		}
		if _, err := Write(ctx, img, dest); err != nil {
			t.Fatal(err)
		}
		assertOnly(t, filepath.Dir(file), []string{"xml.tar"})
		got, err := Load(ctx, dest)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(got); err != nil {
			t.Fatal(err)
		}
		// The archive keeps the config and layers; its manifest is docker's.
		gc, _ := got.ConfigName()
		wc, _ := img.ConfigName()
		if gc != wc {
			t.Errorf("config %s, want %s (image %s)", gc, wc, want)
		}
	}
	// An archive in a missing directory fails cleanly.
	if _, err := Write(ctx, img, "docker-archive:"+filepath.Join(t.TempDir(), "no", "x.tar")); err == nil {
		t.Error("no error for a missing directory")
	}
}

func registryHost(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func TestRegistryPushPull(t *testing.T) {
	ctx := context.Background()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := registryHost(t, registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	img := testImage(t, nil)
	for _, dest := range []string{"docker://" + host + "/hbuild/xml:1", host + "/hbuild/xml:2"} {
		d, err := Write(ctx, img, dest)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := img.Digest(); d != want.String() {
			t.Errorf("digest %s, want %s", d, want)
		}
		got, err := Load(ctx, dest)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(got); err != nil {
			t.Fatal(err)
		}
		if gd, _ := got.Digest(); gd.String() != d {
			t.Errorf("pulled %s, pushed %s", gd, d)
		}
	}
}

func TestRegistryCredentials(t *testing.T) {
	ctx := context.Background()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	host := registryHost(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "builder" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="hbuild-test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	img := testImage(t, nil)
	dest := "docker://" + host + "/private/xml:1"

	t.Setenv("DOCKER_CONFIG", t.TempDir())
	_, err := Write(ctx, img, dest)
	if err == nil || !strings.Contains(err.Error(), "docker login "+host) || !strings.Contains(err.Error(), dest) {
		t.Fatalf("without credentials: %v", err)
	}

	cfg := t.TempDir()
	auth := `{"auths":{"` + host + `":{"auth":"YnVpbGRlcjpzM2NyZXQ="}}}` // builder:s3cret
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(auth), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", cfg)
	if _, err := Write(ctx, img, dest); err != nil {
		t.Fatalf("with credentials: %v", err)
	}
	if _, err := Load(ctx, dest); err != nil {
		t.Fatalf("pull with credentials: %v", err)
	}
}

func TestRegistryRefusesPush(t *testing.T) {
	ctx := context.Background()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	host := registryHost(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodPatch {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"errors":[{"code":"DENIED","message":"repository is read-only"}]}`))
			return
		}
		reg.ServeHTTP(w, r)
	}))
	_, err := Write(ctx, testImage(t, nil), host+"/ro/xml:1")
	if err == nil || !strings.Contains(err.Error(), "DENIED") || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("error %v, want the registry's refusal", err)
	}
	// Nothing was stored.
	ref, _ := name.ParseReference(host + "/ro/xml:1")
	if _, err := remote.Head(ref); err == nil {
		t.Error("image visible after a refused push")
	}
}

// TestLayoutConcurrentWriters: writers to one layout serialise on its lock;
// every tag lands.
func TestLayoutConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "out")
	img := testImage(t, nil)
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			_, err := Write(ctx, img, fmt.Sprintf("oci-layout:%s:t%d", dir, i))
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	idx := readIndex(t, dir)
	tags := map[string]bool{}
	for _, m := range idx.Manifests {
		tags[m.Annotations[ocispec.AnnotationRefName]] = true
	}
	if len(idx.Manifests) != n || len(tags) != n {
		t.Errorf("index has %d manifests, tags %v", len(idx.Manifests), tags)
	}
}

// TestLayoutNestedIndex: a layout whose tag names an image index (as
// skopeo copy --all writes) loads its linux/amd64 image.
func TestLayoutNestedIndex(t *testing.T) {
	ctx := context.Background()
	img := testImage(t, nil)
	arm, err := Assemble(nil, nil, Config{Platform: "linux/arm64"})
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{ocispec.AnnotationRefName: "multi"})); err != nil {
		t.Fatal(err)
	}
	got, err := Load(ctx, "oci-layout:"+dir+":multi")
	if err != nil {
		t.Fatal(err)
	}
	if gd, _ := got.Digest(); gd != mustDigest(t, img) {
		t.Errorf("loaded %s, want the amd64 image %s", gd, mustDigest(t, img))
	}
}

func mustDigest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
