package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestDownloadProgress: a download made for a part reports its bytes as
// EvProgress events of that part, ending with all of them.
func TestDownloadProgress(t *testing.T) {
	body := bytes.Repeat([]byte("hbuild progress\n"), 256<<10) // 4 MiB
	sum := sha256.Sum256(body)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "data.bin", time.Unix(0, 0), bytes.NewReader(body))
	}))
	defer srv.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "hbuild.cfg")
	if err := os.WriteFile(path, []byte(`[buildout]
parts = data
[data]
recipe = slapos.recipe.build:download
url = `+srv.URL+`/data.bin
sha256 = `+hex.EncodeToString(sum[:])+`
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []Event
	fake := func(context.Context) (*Base, error) { return &Base{Name: "fake", Digest: "sha256:fake"}, nil }
	e, err := New(Options{CacheDir: t.TempDir(), Toolchain: fake, Glibc: fake, Events: func(ev Event) {
		if ev.Kind == EvProgress {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	pl := planWith(t, e, path)
	if _, err := e.Build(context.Background(), pl, nil); err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("no progress events for a 4 MiB download")
	}
	for _, ev := range got {
		if ev.Part != "data" || ev.Line != "data.bin" || ev.Total != int64(len(body)) {
			t.Errorf("progress event %+v: want part data, file data.bin, total %d", ev, len(body))
		}
	}
	if last := got[len(got)-1]; last.Done != int64(len(body)) {
		t.Errorf("last progress event has %d of %d bytes", last.Done, len(body))
	}
}
