package rootfs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
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
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/hbuild/hbuild/rootfs"
)

func tarLayer(t *testing.T, entries map[string]string) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, name := range sortedKeys(entries) {
		body := entries[name]
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(name, "/") {
			hdr = &tar.Header{Name: name, Mode: 0o755, Typeflag: tar.TypeDir}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			io.WriteString(tw, body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestFromImage(t *testing.T) {
	good, err := mutate.AppendLayers(empty.Image,
		tarLayer(t, map[string]string{"etc/": "", "etc/a": "a1", "etc/b": "b1", "d/": "", "d/x": "x"}),
		tarLayer(t, map[string]string{"etc/.wh.a": "", "d/.wh..wh..opq": "", "d/y": "y", "etc/b": "b2"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := good.Digest()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(good, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("example.invalid/base:v1")
	if err := tarball.WriteToFile(filepath.Join(dir, "img.tar"), tag, good); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/base:v1"
	rref, _ := name.ParseReference(ref)
	if err := remote.Write(rref, good); err != nil {
		t.Fatal(err)
	}
	var digests []string
	for _, r := range []string{
		"oci-layout:" + filepath.Join(dir, "oci") + ":v1",
		"oci-layout:" + filepath.Join(dir, "oci") + "@" + digest.String(),
		"docker-archive:" + filepath.Join(dir, "img.tar"),
		ref,
	} {
		t.Run(strings.SplitN(r, ":", 2)[0], func(t *testing.T) {
			b, err := rootfs.FromImage(context.Background(), r, rootfs.Options{CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if b.Image != digest.String() {
				t.Errorf("image digest %s, want %s", b.Image, digest)
			}
			if _, err := os.Stat(filepath.Join(b.Dir, "etc/a")); err == nil {
				t.Error("whiteout of etc/a not applied")
			}
			if _, err := os.Stat(filepath.Join(b.Dir, "d/x")); err == nil {
				t.Error("opaque whiteout of d not applied")
			}
			if got := read(t, filepath.Join(b.Dir, "etc/b")); got != "b2" {
				t.Errorf("etc/b = %q", got)
			}
			if got := read(t, filepath.Join(b.Dir, "d/y")); got != "y" {
				t.Errorf("d/y = %q", got)
			}
			digests = append(digests, b.Digest)
		})
	}
	for _, d := range digests {
		if d != digests[0] {
			t.Errorf("layer digests differ between sources: %v", digests)
		}
	}
	if _, err := rootfs.FromImage(context.Background(), "oci-layout:"+filepath.Join(dir, "oci")+":nope", rootfs.Options{CacheDir: t.TempDir()}); err == nil {
		t.Error("unknown tag accepted")
	}

	// A layer member that climbs out is refused and nothing is cached.
	evil, err := mutate.AppendLayers(empty.Image, tarLayer(t, map[string]string{"etc/": "", "../../escape": "no"}))
	if err != nil {
		t.Fatal(err)
	}
	evilTar := filepath.Join(dir, "evil.tar")
	if err := tarball.WriteToFile(evilTar, tag, evil); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	_, err = rootfs.FromImage(context.Background(), "docker-archive:"+evilTar, rootfs.Options{CacheDir: cache})
	if err == nil || !strings.Contains(err.Error(), "unsafe tar path") {
		t.Fatalf("escaping image: %v", err)
	}
	noCacheEntries(t, cache)
}
