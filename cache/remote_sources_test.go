package cache

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/hbuild/hbuild/source"
)

var _ source.SharedCache = (*RemoteSources)(nil)

// corruptingRegistry is ggcr's in-memory registry that flips a byte of
// every blob it serves while corrupt is set.
func corruptingRegistry(t *testing.T) (host string, corrupt *atomic.Bool) {
	t.Helper()
	corrupt = new(atomic.Bool)
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !corrupt.Load() || r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if len(body) > 0 {
			body[len(body)/2] ^= 0xff
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), corrupt
}

func sourceFile(t *testing.T, content string) (path, md5hex, sha string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "src.tar.gz")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	m := md5.Sum([]byte(content))
	s := sha256.Sum256([]byte(content))
	return path, hex.EncodeToString(m[:]), hex.EncodeToString(s[:])
}

func TestRemoteSourcesPushFetch(t *testing.T) {
	host, corrupt := corruptingRegistry(t)
	rs, err := openRemote(t, host, RemoteOptions{}).Sources("")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	content := strings.Repeat("a source tarball\n", 1000)
	p, md5hex, sha := sourceFile(t, content)
	keys := []string{"md5:" + md5hex, "sha256:" + sha}
	if err := rs.Push(ctx, keys, p, sha); err != nil {
		t.Fatal(err)
	}
	if err := rs.Push(ctx, keys, p, sha); err != nil { // idempotent
		t.Fatal(err)
	}
	for _, k := range keys {
		var b bytes.Buffer
		found, err := rs.Fetch(ctx, k, &b)
		if err != nil || !found || b.String() != content {
			t.Fatalf("Fetch %s: found=%v err=%v, %d bytes", k, found, err, b.Len())
		}
	}
	found, err := rs.Fetch(ctx, "sha256:"+strings.Repeat("0", 64), io.Discard)
	if found || err != nil {
		t.Fatalf("missing key: found=%v err=%v", found, err)
	}
	if _, err := rs.Fetch(ctx, "crc32:1234", io.Discard); err == nil {
		t.Fatal("a bad key must be an error")
	}

	// A blob that does not match its manifest is never returned as found.
	corrupt.Store(true)
	found, err = rs.Fetch(ctx, "md5:"+md5hex, io.Discard)
	if found || err == nil || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("corrupt blob: found=%v err=%v", found, err)
	}
	corrupt.Store(false)

	// Read-only: nothing pushed. Write-only: nothing fetched.
	p2, md52, sha2 := sourceFile(t, "another source")
	ro, err := openRemote(t, host, RemoteOptions{Mode: ModeRead}).Sources("")
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.Push(ctx, []string{"md5:" + md52}, p2, sha2); err != nil {
		t.Fatal(err)
	}
	if found, err := rs.Fetch(ctx, "md5:"+md52, io.Discard); found || err != nil {
		t.Fatalf("read-only cache pushed: found=%v err=%v", found, err)
	}
	wo, err := openRemote(t, host, RemoteOptions{Mode: ModeWrite}).Sources("")
	if err != nil {
		t.Fatal(err)
	}
	if found, err := wo.Fetch(ctx, "md5:"+md5hex, io.Discard); found || err != nil {
		t.Fatalf("write-only cache fetched: found=%v err=%v", found, err)
	}
}

func TestSourceTag(t *testing.T) {
	commit := strings.Repeat("ab", 20)
	for key, want := range map[string]string{
		"md5:0123456789abcdef0123456789abcdef": "src-md5-0123456789abcdef0123456789abcdef",
		"git:" + commit:                        "src-git-" + commit,
		"sha512:" + strings.Repeat("f", 128):   ("src-sha512-" + strings.Repeat("f", 128))[:128],
	} {
		if got, err := SourceTag(key); err != nil || got != want {
			t.Errorf("SourceTag(%s) = %q, %v; want %q", key, got, err, want)
		}
	}
	for _, bad := range []string{"md5:xyz", "git:", "tree:0123456789abcdef0123456789abcdef", "MD5:0123456789abcdef0123456789abcdef"} {
		if _, err := SourceTag(bad); err == nil {
			t.Errorf("SourceTag(%q) must fail", bad)
		}
	}
}

// The Fetcher pushes what it downloaded and verified; a second machine
// with an empty download cache and no route to the upstream site gets it
// from the registry.
func TestRemoteSourcesWithFetcher(t *testing.T) {
	content := strings.Repeat("upstream tarball\n", 500)
	var upstreamHits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamHits.Add(1)
		_, _ = io.WriteString(w, content)
	}))
	defer up.Close()
	host, _ := corruptingRegistry(t)
	rs, err := openRemote(t, host, RemoteOptions{}).Sources(host + "/hbuild/sources")
	if err != nil {
		t.Fatal(err)
	}
	if rs.Ref() != host+"/hbuild/sources" {
		t.Fatalf("Ref = %s", rs.Ref())
	}
	s := sha256.Sum256([]byte(content))
	sums := []source.Checksum{{Algo: "sha256", Hex: hex.EncodeToString(s[:])}}
	fetcher := func() *source.Fetcher {
		cas, err := source.OpenCAS(filepath.Join(t.TempDir(), "cas"))
		if err != nil {
			t.Fatal(err)
		}
		return &source.Fetcher{CAS: cas, Shared: rs, Retries: -1}
	}
	ctx := context.Background()
	f1, err := fetcher().Fetch(ctx, up.URL+"/x.tar.gz", sums)
	if err != nil || len(f1.Warnings) != 0 {
		t.Fatalf("first fetch: %v %+v", err, f1)
	}
	up.Close()
	hits := upstreamHits.Load()
	f := fetcher()
	f.Offline = true
	f2, err := f.Fetch(ctx, up.URL+"/x.tar.gz", sums)
	if err != nil {
		t.Fatal(err)
	}
	if f2.From != source.SharedFrom || f2.SHA256 != sums[0].Hex || upstreamHits.Load() != hits {
		t.Fatalf("second fetch: from %q sha %s, upstream hits %d → %d", f2.From, f2.SHA256, hits, upstreamHits.Load())
	}
}
