package source

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// memShared is a SharedCache in memory (the registry-backed one is tested
// in cache/).
type memShared struct {
	mu      sync.Mutex
	blobs   map[string][]byte
	pushes  int
	pushErr error
}

func newMemShared() *memShared { return &memShared{blobs: map[string][]byte{}} }

func (m *memShared) Fetch(_ context.Context, key string, w io.Writer) (bool, error) {
	m.mu.Lock()
	b, ok := m.blobs[key]
	m.mu.Unlock()
	if !ok {
		return false, nil
	}
	_, err := w.Write(b)
	return true, err
}

func (m *memShared) Push(_ context.Context, keys []string, path, sha string) error {
	if m.pushErr != nil {
		return m.pushErr
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if digests(b)["sha256"].Hex != sha {
		return errors.New("pushed blob does not match its sha256")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pushes++
	for _, k := range keys {
		m.blobs[k] = b
	}
	return nil
}

func TestFetchShared(t *testing.T) {
	data := []byte("a tarball everybody needs")
	d := digests(data)
	o := newOrigin(t)
	o.files["/s.tar.gz"] = data
	url := o.URL + "/s.tar.gz"
	shared := newMemShared()

	a := newTestFetcher(t)
	a.Shared = shared
	fd, err := a.Fetch(context.Background(), url, []Checksum{d["md5"]})
	if err != nil || fd.From != url || len(fd.Warnings) != 0 {
		t.Fatalf("first fetch: %+v %v", fd, err)
	}
	for _, k := range []string{"md5:" + d["md5"].Hex, "sha256:" + d["sha256"].Hex} {
		if !bytes.Equal(shared.blobs[k], data) {
			t.Errorf("not pushed under %s", k)
		}
	}

	// Another machine: empty download cache, offline, warm shared cache.
	b := newTestFetcher(t)
	b.Shared = shared
	b.Offline = true
	fd, err = b.Fetch(context.Background(), url, []Checksum{d["md5"]})
	if err != nil || fd.From != SharedFrom || fd.SHA256 != d["sha256"].Hex || fd.Size != int64(len(data)) {
		t.Fatalf("from the shared cache: %+v %v", fd, err)
	}
	if got, _ := os.ReadFile(fd.Path); !bytes.Equal(got, data) {
		t.Fatal("CAS blob differs")
	}
	if hits := o.count("/s.tar.gz"); hits != 1 {
		t.Errorf("origin hit %d times, want 1", hits)
	}

	// A corrupt shared copy is never used.
	shared.blobs["md5:"+d["md5"].Hex] = []byte("corrupt")
	shared.blobs["sha256:"+d["sha256"].Hex] = []byte("corrupt")
	c := newTestFetcher(t)
	c.Shared = shared
	c.Offline = true
	_, err = c.Fetch(context.Background(), url, []Checksum{d["md5"]})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), SharedFrom) {
		t.Fatalf("corrupt shared copy offline: err = %v", err)
	}
	assertCASEmpty(t, c.CAS)
	c.Offline = false
	c.NoPush = true
	fd, err = c.Fetch(context.Background(), url, []Checksum{d["md5"]})
	if err != nil || fd.From != url {
		t.Fatalf("corrupt shared copy online: %+v %v", fd, err)
	}
	if string(shared.blobs["md5:"+d["md5"].Hex]) != "corrupt" {
		t.Error("NoPush pushed")
	}

	// A failed push is a warning.
	shared.pushErr = errors.New("registry down")
	e := newTestFetcher(t)
	e.Shared = shared
	fd, err = e.Fetch(context.Background(), url, []Checksum{d["sha256"]})
	if err != nil || len(fd.Warnings) != 1 || !strings.Contains(fd.Warnings[0], "registry down") {
		t.Fatalf("failed push: %+v %v", fd, err)
	}
}

func TestFetchGitShared(t *testing.T) {
	r, first, _ := sampleGitRepo(t)
	shared := newMemShared()
	a := gitFetcher(t, t.TempDir())
	a.Shared = shared
	g, err := a.FetchGit(context.Background(), "file://"+r.dir, first, GitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	export := shared.blobs["git:"+first]
	if export == nil {
		t.Fatal("export not pushed")
	}
	if tree, err := verifyGitArchive(bytes.NewReader(export), first); err != nil || tree != g.Tree {
		t.Fatalf("verifyGitArchive of a fresh export: %s %v", tree, err)
	}

	// Another machine, offline, no mirror: from the shared cache.
	b := gitFetcher(t, t.TempDir())
	b.Shared = shared
	b.Offline = true
	g2, err := b.FetchGit(context.Background(), "file:///nonexistent/repo", first, GitOptions{})
	if err != nil || g2.From != SharedFrom || g2.SHA256 != g.SHA256 || g2.Tree != g.Tree || !g2.Pinned {
		t.Fatalf("from the shared cache: %+v %v", g2, err)
	}
	if err := Unpack(g2.Path, filepath.Join(t.TempDir(), "tree"), UnpackOptions{Name: "x.tar"}); err != nil {
		t.Fatal(err)
	}

	// Tampered exports are refused.
	tamper := func(edit func(h *tar.Header, body []byte) []byte) []byte {
		tr := tar.NewReader(bytes.NewReader(export))
		var out bytes.Buffer
		tw := tar.NewWriter(&out)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(tr)
			body = edit(h, body)
			h.Size = int64(len(body))
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			tw.Write(body)
		}
		tw.Close()
		return out.Bytes()
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"file content", tamper(func(h *tar.Header, b []byte) []byte {
			if h.Name == "src/a.c" {
				return []byte("int evil;\n")
			}
			return b
		}), "content has tree"},
		{"mode", tamper(func(h *tar.Header, b []byte) []byte {
			if h.Name == "README" {
				h.Mode = 0o755
			}
			return b
		}), "content has tree"},
		{"commit object", tamper(func(h *tar.Header, b []byte) []byte {
			if h.Typeflag == tar.TypeXGlobalHeader {
				h.PAXRecords[paxCommit] = "dHJlZSAw"
			}
			return b
		}), "commit object hashes to"},
		{"not an export", makeTar(t, []tEntry{{name: "f", body: "x"}}), "not a git export"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := verifyGitArchive(bytes.NewReader(tc.data), first); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verify: err = %v, want %q", err, tc.want)
			}
			bad := newMemShared()
			bad.blobs["git:"+first] = tc.data
			f := gitFetcher(t, t.TempDir())
			f.Shared = bad
			f.Offline = true
			_, err := f.FetchGit(context.Background(), "file://"+r.dir, first, GitOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("offline with a tampered export: err = %v", err)
			}
			if _, ok := f.CAS.LookupKey("git", first); ok {
				t.Fatal("a tampered export entered the CAS")
			}
			// Online, the repository is used instead, with a warning.
			f.Offline = false
			g2, err := f.FetchGit(context.Background(), "file://"+r.dir, first, GitOptions{})
			if err != nil || g2.SHA256 != g.SHA256 || len(g2.Warnings) == 0 || !strings.Contains(g2.Warnings[0], tc.want) {
				t.Fatalf("online with a tampered export: %+v %v", g2, err)
			}
		})
	}
}
