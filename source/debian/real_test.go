package debian_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hbuild/hbuild/internal/testutil"
	"github.com/hbuild/hbuild/source/debian"
)

// sharedCache is shared by every test process on the machine (the download
// cache is safe to share), so CI downloads the indices once.
const sharedCache = "/var/tmp/hbuild-test/cache"

func requireArchive(t *testing.T) debian.Mirror {
	t.Helper()
	m, err := debian.DefaultMirror()
	testutil.Require(t, err == nil, "the host's apt sources name a Debian mirror")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, m.URI+"/dists/"+m.Suites[0]+"/InRelease", nil)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	testutil.Require(t, err == nil && resp.StatusCode == http.StatusOK, "Debian's archive from the host's apt sources must be reachable")
	if err := os.MkdirAll(sharedCache, 0o755); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRealArchive(t *testing.T) {
	requireArchive(t)
	ctx := context.Background()
	opts := debian.Options{CacheDir: sharedCache}

	// The real keyring verifies the real archive; a stranger's does not.
	l, err := debian.Resolve(ctx, []string{"libc6", "libstdc++6"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	var libc *debian.LockedPackage
	for i, p := range l.Packages {
		if p.Name == "libc6" {
			libc = &l.Packages[i]
		}
	}
	if libc == nil || !strings.HasPrefix(libc.Filename, "pool/main/g/glibc/") || len(l.Packages) < 4 {
		t.Fatalf("resolved %s", l.Bytes())
	}
	if _, err := debian.Resolve(ctx, []string{"no-such-package-hbuild"}, opts); err == nil || !strings.Contains(err.Error(), "no package no-such-package-hbuild") {
		t.Errorf("unknown package: %v", err)
	}

	// An upstream tarball, verified through InRelease -> Sources -> .dsc.
	u, err := debian.FetchUpstream(ctx, opts, "zlib", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.Name, "zlib_") || !strings.Contains(u.Name, ".orig.tar.") {
		t.Errorf("tarball name %q", u.Name)
	}
	st, err := os.Stat(u.Path)
	if err != nil || st.Size() != u.Size || u.Size < 100000 {
		t.Fatalf("tarball %s: %v, %d bytes", u.Path, err, u.Size)
	}
	// Pinned to the version just found: answered from the cache, offline.
	p, err := debian.FetchSource(ctx, debian.Options{CacheDir: sharedCache, Offline: true}, "zlib", u.Version)
	if err != nil || p != u.Path {
		t.Fatalf("offline fetch of zlib %s: %v (%s)", u.Version, err, p)
	}
}
