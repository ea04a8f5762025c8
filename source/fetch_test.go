package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// origin is a test HTTP server with a few behaviours, counting requests
// per path.
type origin struct {
	*httptest.Server
	mu    sync.Mutex
	hits  map[string]int
	files map[string][]byte
	// fail500 is how many first requests of a path answer 500.
	fail500 map[string]int
	// truncate paths answer with a full Content-Length and half the body,
	// truncateOnce only on the first request (then Range is honoured).
	truncate     map[string]bool
	truncateOnce map[string]bool
	ranges       []string
}

func newOrigin(t *testing.T) *origin {
	o := &origin{hits: map[string]int{}, files: map[string][]byte{}, fail500: map[string]int{},
		truncate: map[string]bool{}, truncateOnce: map[string]bool{}}
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.Close)
	return o
}

func (o *origin) serve(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.hits[r.URL.Path]++
	n := o.hits[r.URL.Path]
	data, ok := o.files[r.URL.Path]
	fail := n <= o.fail500[r.URL.Path]
	trunc := o.truncate[r.URL.Path] || (o.truncateOnce[r.URL.Path] && n == 1)
	if rg := r.Header.Get("Range"); rg != "" {
		o.ranges = append(o.ranges, rg)
	}
	o.mu.Unlock()
	switch {
	case !ok:
		http.NotFound(w, r)
	case fail:
		http.Error(w, "try again", http.StatusInternalServerError)
	case trunc:
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Header().Set("ETag", `"v1"`)
		w.WriteHeader(http.StatusOK)
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // close the connection mid-body
	default:
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}
}

func (o *origin) count(p string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits[p]
}

func newTestFetcher(t *testing.T) *Fetcher {
	c, err := OpenCAS(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return &Fetcher{CAS: c, Backoff: time.Millisecond}
}

// assertCASEmpty checks that no blob and no temporary file is left.
func assertCASEmpty(t *testing.T, c *CAS) {
	t.Helper()
	for _, sub := range []string{"sha256", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(c.Dir(), sub)); len(ents) != 0 {
			t.Errorf("%s not empty: %v", sub, ents)
		}
	}
}

// deadURL is a URL on loopback where nothing listens.
func deadURL(t *testing.T, name string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/" + name
}

func TestFetchChecksums(t *testing.T) {
	o := newOrigin(t)
	data := []byte("the source tarball\n")
	o.files["/pkg-1.0.tar.gz"] = data
	d := digests(data)
	wrong := digests([]byte("something else"))
	for _, algo := range []string{"md5", "sha1", "sha256", "sha512"} {
		t.Run(algo+"/match", func(t *testing.T) {
			f := newTestFetcher(t)
			fd, err := f.Fetch(context.Background(), o.URL+"/pkg-1.0.tar.gz", []Checksum{d[algo]})
			if err != nil {
				t.Fatal(err)
			}
			if fd.SHA256 != d["sha256"].Hex || fd.Name != "pkg-1.0.tar.gz" || fd.Size != int64(len(data)) || fd.From != o.URL+"/pkg-1.0.tar.gz" {
				t.Fatalf("Fetched = %+v", fd)
			}
			if b, _ := os.ReadFile(fd.Path); !bytes.Equal(b, data) {
				t.Fatalf("content %q", b)
			}
		})
		t.Run(algo+"/mismatch", func(t *testing.T) {
			f := newTestFetcher(t)
			u := o.URL + "/pkg-1.0.tar.gz"
			sums := []Checksum{d["sha256"], wrong[algo]} // sha256 matches, the other not
			if algo == "sha256" {
				sums = []Checksum{wrong[algo]}
			}
			_, err := f.Fetch(context.Background(), u, sums)
			var mm *MismatchError
			if !errors.As(err, &mm) {
				t.Fatalf("err = %v, want a MismatchError", err)
			}
			for _, s := range []string{u, wrong[algo].Hex, d[algo].Hex, algo} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			assertCASEmpty(t, f.CAS)
		})
	}
	t.Run("fragment", func(t *testing.T) {
		f := newTestFetcher(t)
		if _, err := f.Fetch(context.Background(), o.URL+"/pkg-1.0.tar.gz#md5="+d["md5"].Hex, nil); err != nil {
			t.Fatal(err)
		}
		_, err := f.Fetch(context.Background(), o.URL+"/pkg-1.0.tar.gz#sha512="+wrong["sha512"].Hex, nil)
		var mm *MismatchError
		if !errors.As(err, &mm) {
			t.Fatalf("err = %v, want a MismatchError", err)
		}
		_, err = f.Fetch(context.Background(), o.URL+"/pkg-1.0.tar.gz#md5="+d["md5"].Hex, []Checksum{wrong["md5"]})
		if err == nil || !strings.Contains(err.Error(), "two different md5") {
			t.Fatalf("conflicting sums: err = %v", err)
		}
	})
}

func TestFetchRetries(t *testing.T) {
	data := []byte("flaky")
	d := digests(data)
	cases := []struct {
		name     string
		fail500  int
		retries  int
		path     string
		wantErr  string
		wantHits int
	}{
		{"500 twice then ok", 2, 0, "/f.tar", "", 3},
		{"500 without retries", 1, -1, "/f.tar", "500 Internal Server Error", 1},
		{"500 beyond retries", 5, 2, "/f.tar", "after 3 attempts", 3},
		{"404 is not retried", 0, 0, "/missing.tar", "404 Not Found", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrigin(t)
			o.files["/f.tar"] = data
			o.fail500["/f.tar"] = tc.fail500
			f := newTestFetcher(t)
			f.Retries = tc.retries
			_, err := f.Fetch(context.Background(), o.URL+tc.path, []Checksum{d["md5"]})
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if got := o.count(tc.path); got != tc.wantHits {
				t.Errorf("%d requests, want %d", got, tc.wantHits)
			}
			if tc.wantErr != "" {
				assertCASEmpty(t, f.CAS)
			}
		})
	}
}

func TestFetchPartial(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10000)
	d := digests(data)
	t.Run("always truncated", func(t *testing.T) {
		o := newOrigin(t)
		o.files["/p.tar"] = data
		o.truncate["/p.tar"] = true
		f := newTestFetcher(t)
		f.Retries = 2
		_, err := f.Fetch(context.Background(), o.URL+"/p.tar", []Checksum{d["sha256"]})
		if err == nil {
			t.Fatal("a truncated download succeeded")
		}
		if o.count("/p.tar") != 3 {
			t.Errorf("%d requests, want 3", o.count("/p.tar"))
		}
		assertCASEmpty(t, f.CAS)
	})
	t.Run("resumed", func(t *testing.T) {
		o := newOrigin(t)
		o.files["/p.tar"] = data
		o.truncateOnce["/p.tar"] = true
		f := newTestFetcher(t)
		var last [2]int64
		f.Progress = func(_ string, done, total int64) { last = [2]int64{done, total} }
		fd, err := f.Fetch(context.Background(), o.URL+"/p.tar", []Checksum{d["md5"]})
		if err != nil {
			t.Fatal(err)
		}
		if fd.SHA256 != d["sha256"].Hex {
			t.Fatalf("sha256 %s", fd.SHA256)
		}
		if want := fmt.Sprintf("bytes=%d-", len(data)/2); len(o.ranges) != 1 || o.ranges[0] != want {
			t.Errorf("Range requests %v, want [%s]", o.ranges, want)
		}
		if last != [2]int64{int64(len(data)), int64(len(data))} {
			t.Errorf("last progress %v, want %d of %d", last, len(data), len(data))
		}
	})
}

func TestFetchAllowHosts(t *testing.T) {
	o := newOrigin(t)
	data := []byte("allowed?")
	o.files["/a.tar"] = data
	sums := []Checksum{digests(data)["sha256"]}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(o.URL, "http://"))
	cases := []struct {
		allow []string
		ok    bool
	}{
		{nil, true},
		{[]string{"*.example.org"}, false},
		{[]string{"*.example.org", "127.0.0.*"}, true},
		{[]string{"127.0.0.1:" + port}, true},
		{[]string{"127.0.0.1:1"}, false},
		{[]string{"localhost"}, false},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.allow, ","), func(t *testing.T) {
			f := newTestFetcher(t)
			f.AllowHosts = tc.allow
			before := o.count("/a.tar")
			_, err := f.Fetch(context.Background(), o.URL+"/a.tar", sums)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var hna *HostNotAllowedError
			if !errors.As(err, &hna) || !strings.Contains(err.Error(), "allow-hosts") || !strings.Contains(err.Error(), "127.0.0.1") {
				t.Fatalf("err = %v, want a HostNotAllowedError naming the host", err)
			}
			if o.count("/a.tar") != before {
				t.Error("a refused host was contacted")
			}
		})
	}
}

func TestFetchAllowHostsRedirect(t *testing.T) {
	data := []byte("redirected")
	other := newOrigin(t)
	other.files["/r.tar"] = data
	redirecting := httptest.NewServer(http.RedirectHandler(other.URL+"/r.tar", http.StatusFound))
	t.Cleanup(redirecting.Close)
	host := func(u string) string { return strings.TrimPrefix(u, "http://") }
	sums := []Checksum{digests(data)["sha256"]}

	f := newTestFetcher(t)
	f.AllowHosts = []string{host(redirecting.URL)}
	_, err := f.Fetch(context.Background(), redirecting.URL+"/r.tar", sums)
	var hna *HostNotAllowedError
	if !errors.As(err, &hna) || other.count("/r.tar") != 0 {
		t.Fatalf("redirect to a host outside allow-hosts: err = %v, %d requests there", err, other.count("/r.tar"))
	}
	f.AllowHosts = append(f.AllowHosts, host(other.URL))
	if _, err := f.Fetch(context.Background(), redirecting.URL+"/r.tar", sums); err != nil {
		t.Fatalf("redirect inside allow-hosts: %v", err)
	}
}

func TestFetchFindLinks(t *testing.T) {
	data := []byte("mirrored tarball")
	d := digests(data)
	sums := []Checksum{d["md5"]}
	mirror := newOrigin(t)
	mirror.files["/mirror/pkg.tar.gz"] = data
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pkg.tar.gz"), data, 0o644)
	badDir := t.TempDir()
	os.WriteFile(filepath.Join(badDir, "pkg.tar.gz"), []byte("a corrupted copy"), 0o644)
	origin := newOrigin(t)
	origin.files["/dl/pkg.tar.gz"] = data

	cases := []struct {
		name      string
		findLinks []string
		url       string
		wantFrom  string
		wantErr   string
	}{
		{"dir, main unreachable", []string{dir}, deadURL(t, "pkg.tar.gz"), filepath.Join(dir, "pkg.tar.gz"), ""},
		{"file URL dir", []string{"file://" + dir}, deadURL(t, "pkg.tar.gz"), filepath.Join(dir, "pkg.tar.gz"), ""},
		{"URL prefix, main unreachable", []string{t.TempDir(), mirror.URL + "/mirror/"}, deadURL(t, "pkg.tar.gz"), mirror.URL + "/mirror/pkg.tar.gz", ""},
		{"prefix 404s, main used", []string{origin.URL + "/nothing"}, origin.URL + "/dl/pkg.tar.gz", origin.URL + "/dl/pkg.tar.gz", ""},
		{"corrupt copy skipped", []string{badDir, dir}, deadURL(t, "pkg.tar.gz"), filepath.Join(dir, "pkg.tar.gz"), ""},
		{"nothing anywhere", []string{origin.URL + "/nothing"}, deadURL(t, "pkg.tar.gz"), "", "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFetcher(t)
			f.Retries = -1
			f.FindLinks = tc.findLinks
			fd, err := f.Fetch(context.Background(), tc.url, sums)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "404") {
					t.Fatalf("err = %v, want %q listing what was tried", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fd.From != tc.wantFrom || fd.SHA256 != d["sha256"].Hex {
				t.Fatalf("From %q sha %s, want %q", fd.From, fd.SHA256, tc.wantFrom)
			}
		})
	}
}

func TestFetchOffline(t *testing.T) {
	data := []byte("cached once")
	d := digests(data)
	o := newOrigin(t)
	o.files["/c.tar.xz"] = data
	online := newTestFetcher(t)
	if _, err := online.Fetch(context.Background(), o.URL+"/c.tar.xz", []Checksum{d["md5"]}); err != nil {
		t.Fatal(err)
	}
	url := o.URL + "/c.tar.xz"
	o.Close()
	off := &Fetcher{CAS: online.CAS, Offline: true}
	for _, sum := range []Checksum{d["md5"], d["sha256"]} {
		fd, err := off.Fetch(context.Background(), url, []Checksum{sum})
		if err != nil {
			t.Fatalf("%s: %v", sum.Algo, err)
		}
		if fd.From != "cache" || fd.SHA256 != d["sha256"].Hex || fd.Size != int64(len(data)) {
			t.Fatalf("Fetched = %+v", fd)
		}
	}
	// Known only by sha512: not in the index, and offline.
	_, err := off.Fetch(context.Background(), url, []Checksum{d["sha512"]})
	var nf *NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("err = %v, want offline not found", err)
	}
	// An online fetcher also serves from the cache without the network.
	if _, err := online.Fetch(context.Background(), url, []Checksum{d["md5"]}); err != nil {
		t.Fatal(err)
	}
}

func TestFetchUnpinned(t *testing.T) {
	data := []byte("not pinned")
	d := digests(data)
	o := newOrigin(t)
	o.files["/u.tar"] = data
	f := newTestFetcher(t)
	_, err := f.Fetch(context.Background(), o.URL+"/u.tar", nil)
	var up *UnpinnedError
	if !errors.As(err, &up) || !strings.Contains(err.Error(), "--allow-unpinned") {
		t.Fatalf("err = %v, want an UnpinnedError", err)
	}
	if o.count("/u.tar") != 0 {
		t.Fatal("an unpinned source was downloaded")
	}
	f.AllowUnpinned = true
	fd, err := f.Fetch(context.Background(), o.URL+"/u.tar", nil)
	if err != nil || fd.SHA256 != d["sha256"].Hex {
		t.Fatalf("got %+v, %v", fd, err)
	}
	url := o.URL + "/u.tar"
	o.Close()
	off := &Fetcher{CAS: f.CAS, Offline: true, AllowUnpinned: true}
	if fd, err = off.Fetch(context.Background(), url, nil); err != nil || fd.SHA256 != d["sha256"].Hex || fd.From != "cache" {
		t.Fatalf("offline unpinned: %+v %v", fd, err)
	}
}

func TestFetchLocal(t *testing.T) {
	data := []byte("a patch\n")
	d := digests(data)
	dir := t.TempDir()
	p := filepath.Join(dir, "fix.patch")
	os.WriteFile(p, data, 0o644)
	for _, u := range []string{p, "file://" + p, p + "#" + d["md5"].Hex} {
		t.Run(u, func(t *testing.T) {
			f := newTestFetcher(t)
			f.Offline = true
			fd, err := f.Fetch(context.Background(), u, nil)
			if err != nil {
				t.Fatal(err)
			}
			if fd.SHA256 != d["sha256"].Hex || fd.Name != "fix.patch" || fd.From != p {
				t.Fatalf("Fetched = %+v", fd)
			}
		})
	}
	f := newTestFetcher(t)
	_, err := f.Fetch(context.Background(), p, []Checksum{digests([]byte("other"))["md5"]})
	var mm *MismatchError
	if !errors.As(err, &mm) || mm.URL != p {
		t.Fatalf("err = %v, want a mismatch naming %s", err, p)
	}
	if _, err := f.Fetch(context.Background(), filepath.Join(dir, "absent.patch"), nil); err == nil || !strings.Contains(err.Error(), "absent.patch") {
		t.Fatalf("missing local file: err = %v", err)
	}
	if _, err := f.Fetch(context.Background(), "ftp://h/x.tar", nil); err == nil || !strings.Contains(err.Error(), "unsupported URL scheme") {
		t.Fatalf("ftp: err = %v", err)
	}
}

func TestFetchConcurrent(t *testing.T) {
	data := bytes.Repeat([]byte("concurrent "), 50000)
	d := digests(data)
	o := newOrigin(t)
	o.files["/big.tar"] = data
	f := newTestFetcher(t)
	// A second Fetcher on the same directory stands for another process.
	c2, err := OpenCAS(f.CAS.Dir())
	if err != nil {
		t.Fatal(err)
	}
	f2 := &Fetcher{CAS: c2}
	var wg sync.WaitGroup
	var failures atomic.Int32
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ff := f
			if i%2 == 1 {
				ff = f2
			}
			fd, err := ff.Fetch(context.Background(), o.URL+"/big.tar", []Checksum{d["md5"]})
			if err != nil || fd.SHA256 != d["sha256"].Hex {
				t.Errorf("goroutine %d: %+v %v", i, fd, err)
				failures.Add(1)
			}
		}()
	}
	wg.Wait()
	if failures.Load() == 0 && o.count("/big.tar") != 1 {
		t.Errorf("%d downloads of one file, want 1", o.count("/big.tar"))
	}
	if ents, _ := os.ReadDir(filepath.Join(f.CAS.Dir(), "tmp")); len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestFetchCancel(t *testing.T) {
	o := newOrigin(t)
	o.files["/x.tar"] = []byte("x")
	o.fail500["/x.tar"] = 1000
	f := newTestFetcher(t)
	f.Backoff = time.Hour // the retry waits until the context ends
	f.Retries = 5
	ctx, cancel := context.WithCancel(context.Background())
	f.Progress = nil
	done := make(chan error, 1)
	go func() {
		_, err := f.Fetch(ctx, o.URL+"/x.tar", []Checksum{digests([]byte("x"))["md5"]})
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// FetchUnpinned (find-links pages and distributions): a find-links page is asked for each time (the cached copy
// serves offline); a versioned distribution file is fetched once; allow-hosts
// applies to both.
func TestFetchUnpinnedFindLinks(t *testing.T) {
	o := newOrigin(t)
	o.files["/simple/"] = []byte(`<a href="app-1.0.tar.gz">app</a>`)
	o.files["/simple/app-1.0.tar.gz"] = []byte("an sdist")
	ctx := context.Background()
	f := newTestFetcher(t)
	for i := 1; i <= 2; i++ {
		page, err := f.FetchUnpinned(ctx, o.URL+"/simple/", false)
		if err != nil {
			t.Fatal(err)
		}
		if o.count("/simple/") != i {
			t.Fatalf("page fetch %d: the server was asked %d times", i, o.count("/simple/"))
		}
		dist, err := f.FetchUnpinned(ctx, o.URL+"/simple/app-1.0.tar.gz", true)
		if err != nil {
			t.Fatal(err)
		}
		if o.count("/simple/app-1.0.tar.gz") != 1 {
			t.Fatalf("distribution fetch %d: the server was asked %d times, want once", i, o.count("/simple/app-1.0.tar.gz"))
		}
		if b, _ := os.ReadFile(dist.Path); string(b) != "an sdist" || dist.SHA256 != digests(b)["sha256"].Hex {
			t.Fatalf("distribution %+v holds %q", dist, b)
		}
		if b, _ := os.ReadFile(page.Path); !strings.Contains(string(b), "app-1.0.tar.gz") {
			t.Fatalf("page holds %q", b)
		}
	}
	off := *f
	off.Offline = true
	if _, err := off.FetchUnpinned(ctx, o.URL+"/simple/", false); err != nil {
		t.Fatalf("offline page: %v", err)
	}
	if o.count("/simple/") != 2 {
		t.Fatal("offline, the server was asked")
	}
	if _, err := off.FetchUnpinned(ctx, o.URL+"/simple/other-2.0.tar.gz", true); err == nil {
		t.Fatal("offline, an uncached file was fetched")
	}
	g := newTestFetcher(t)
	g.AllowHosts = []string{"*.example.org"}
	var hna *HostNotAllowedError
	if _, err := g.FetchUnpinned(ctx, o.URL+"/simple/", false); !errors.As(err, &hna) {
		t.Fatalf("a page on a host outside allow-hosts: %v", err)
	}
}
