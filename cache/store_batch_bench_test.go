package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkCommit commits 50 pulled-sized entries (a tree of a few files
// and a 64 KiB layer) one by one with Pending.Commit, as Pull does, and
// as one batch with Store.CommitAll, as PullAll does. ms/part is the cost
// of one entry's commit.
func BenchmarkCommit(b *testing.B) {
	const n = 50
	for _, mode := range []string{"each", "batch"} {
		b.Run(mode, func(b *testing.B) {
			var total float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s := openStore(b)
				ps := make([]*Pending, n)
				ms := make([]*Meta, n)
				for j := range ps {
					ps[j], ms[j] = benchPending(b, s, rkey(fmt.Sprint("commit", j)), fmt.Sprint("p", j))
				}
				b.StartTimer()
				if mode == "each" {
					for j, p := range ps {
						if _, err := p.Commit(ms[j]); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					_, errs := s.CommitAll(context.Background(), ps, ms)
					for _, err := range errs {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			total = float64(b.Elapsed().Microseconds()) / 1000
			b.ReportMetric(total/float64(b.N*n), "ms/part")
		})
	}
}

func benchPending(b *testing.B, s *Store, key, part string) (*Pending, *Meta) {
	p, err := s.Create(key)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []string{"bin/" + part, "lib/lib" + part + ".so", "share/doc/README"} {
		path := filepath.Join(p.Tree(), f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, make([]byte, 16<<10), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	layer := make([]byte, 64<<10)
	copy(layer, key)
	if err := os.WriteFile(p.LayerPath(), layer, 0o644); err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(layer)
	return p, &Meta{Part: part, Location: "/opt/hbuild/parts/" + part,
		Layer: Layer{Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(layer))}}
}
