package cache

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hbuild/hbuild/image"
	"github.com/hbuild/hbuild/internal/testutil"
)

// benchPart is a built part whose tree holds size bytes of incompressible
// data in a few files, plus small text files.
func benchPart(b testing.TB, s *Store, k, part string, size int) *Entry {
	b.Helper()
	p, err := s.Create(k)
	if err != nil {
		b.Fatal(err)
	}
	for i, dir := range []string{"lib", "bin", "share/doc"} {
		d := filepath.Join(p.Tree(), dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		data := make([]byte, size/3)
		if _, err := rand.Read(data); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%s-%d", part, i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "README"), []byte("text of "+part+"\n"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	loc := "/opt/hbuild/parts/" + part
	info, err := image.WriteLayerFile(context.Background(), p.Tree(), p.LayerPath(), image.LayerOptions{Prefix: loc[1:]})
	if err != nil {
		b.Fatal(err)
	}
	e, err := p.Commit(&Meta{Part: part, Location: loc, Format: image.FormatVersion,
		Layer: Layer{Digest: info.Digest, DiffID: info.DiffID, Size: info.Size, MediaType: info.MediaType}})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkRemoteCache measures what a fully cached build on an empty
// cache directory spends on the shared cache: one Prefetch (look every key
// up, pull, verify and unpack every part) from a loopback docker-registry,
// with a fresh Remote each time as in a new process. Beside it, skopeo copy
// of an image made of the same layers from the same registry to an OCI
// layout. ns/op is hbuild's; hbuild-ms, skopeo-ms and ratio compare them.
// HBUILD_BENCH_PART_BYTES sets the data per part (default 256 KiB);
// HBUILD_BENCH_DEFER_TREES=1 pulls with DeferTrees (layers checked, trees
// not unpacked, as a fully cached build that builds nothing needs).
func BenchmarkRemoteCache(b *testing.B) {
	skopeo := testutil.RequireTool(b, "skopeo")
	reg := startRegistry(b)
	size := 256 << 10
	if v := os.Getenv("HBUILD_BENCH_PART_BYTES"); v != "" {
		if _, err := fmt.Sscan(v, &size); err != nil {
			b.Fatalf("HBUILD_BENCH_PART_BYTES: %v", err)
		}
	}
	policy := filepath.Join(b.TempDir(), "policy.json")
	if err := os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o644); err != nil {
		b.Fatal(err)
	}
	opts := RemoteOptions{DeferTrees: os.Getenv("HBUILD_BENCH_DEFER_TREES") == "1"}
	ctx := context.Background()
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("parts=%d", n), func(b *testing.B) {
			src := openStore(b)
			pusher := openRemote(b, reg.Host, RemoteOptions{})
			var keys []string
			var layers []v1.Layer
			for i := 0; i < n; i++ {
				part := fmt.Sprintf("p%d", i)
				e := benchPart(b, src, rkey(fmt.Sprintf("bench-%d-%d", n, i)), part, size)
				mustPush(b, pusher, e)
				keys = append(keys, e.Key)
				m := e.Meta.Layer
				l, err := image.LayerFromFile(e.LayerPath(), &image.LayerInfo{Digest: m.Digest, DiffID: m.DiffID, Size: m.Size, MediaType: m.MediaType})
				if err != nil {
					b.Fatal(err)
				}
				layers = append(layers, l)
			}
			img, err := image.Assemble(nil, layers, image.Config{Platform: "linux/amd64", Created: image.DefaultEpoch})
			if err != nil {
				b.Fatal(err)
			}
			ref := fmt.Sprintf("%s/hbuild/image:n%d", reg.Host, n)
			if _, err := image.Write(ctx, img, "docker://"+ref); err != nil {
				b.Fatal(err)
			}

			var hbuild, peer time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s := openStore(b)
				r := openRemote(b, reg.Host, opts)
				b.StartTimer()
				t0 := time.Now()
				pulled, ws := r.Prefetch(ctx, s, keys)
				hbuild += time.Since(t0)
				b.StopTimer()
				if len(pulled) != n || len(ws) != 0 {
					b.Fatalf("pulled %d of %d: %v", len(pulled), n, ws)
				}
				dst := filepath.Join(b.TempDir(), "layout")
				t0 = time.Now()
				out, err := exec.Command(skopeo, "--policy", policy, "copy", "--quiet", "--src-tls-verify=false", "docker://"+ref, "oci:"+dst+":x").CombinedOutput()
				peer += time.Since(t0)
				if err != nil {
					b.Fatalf("skopeo copy: %v\n%s", err, out)
				}
				b.StartTimer()
			}
			b.StopTimer()
			hm := float64(hbuild.Microseconds()) / 1000 / float64(b.N)
			pm := float64(peer.Microseconds()) / 1000 / float64(b.N)
			b.ReportMetric(hm, "hbuild-ms")
			b.ReportMetric(pm, "skopeo-ms")
			b.ReportMetric(hm/pm, "ratio")
			b.ReportMetric(hm/float64(n), "ms/part")
		})
	}
}
