package testutil

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// registryTokenHeader carries a token chosen per start: only our own
// registry answers with it, not another process that took the port.
const registryTokenHeader = "X-Hbuild-Test"

// Registry is a running docker-registry started by a test.
type Registry struct {
	Host    string // host:port on 127.0.0.1
	Storage string // root directory of its filesystem storage
	stop    func()
}

// Stop kills the registry and waits until it is gone (for tests of a
// registry that goes away; it is also stopped when the test ends).
func (r *Registry) Stop() { r.stop() }

// BlobPath is where the registry keeps the blob of digest.
func (r *Registry) BlobPath(digest string) string { return RegistryBlobPath(r.Storage, digest) }

// StartRegistryProcess starts Debian's docker-registry (distribution) on a
// free loopback port, with its configuration and storage in temporary
// directories, and waits until it answers. The registry is killed when the
// test ends.
func StartRegistryProcess(t testing.TB) *Registry {
	t.Helper()
	bin := RequireTool(t, "docker-registry")
	for attempt := 1; ; attempt++ {
		r, log := startRegistry(t, bin)
		if r != nil {
			return r
		}
		if attempt == 5 {
			t.Fatalf("docker-registry did not start:\n%s", log)
		}
	}
}

// StartRegistry is StartRegistryProcess for tests that need only its
// host:port.
func StartRegistry(t testing.TB) (host string) {
	t.Helper()
	return StartRegistryProcess(t).Host
}

// StartRegistryStorage is StartRegistry that also returns the root
// directory of the registry's filesystem storage, for tests that alter
// what it stores (RegistryBlobPath).
func StartRegistryStorage(t testing.TB) (host, storage string) {
	t.Helper()
	r := StartRegistryProcess(t)
	return r.Host, r.Storage
}

// RegistryBlobPath is where docker-registry's filesystem driver under
// storage keeps the blob of digest ("sha256:<hex>").
func RegistryBlobPath(storage, digest string) string {
	hx := strings.TrimPrefix(digest, "sha256:")
	if len(hx) < 2 {
		return filepath.Join(storage, "docker", "registry", "v2", "blobs", "sha256", "invalid-digest")
	}
	return filepath.Join(storage, "docker", "registry", "v2", "blobs", "sha256", hx[:2], hx, "data")
}

// syncBuffer is the registry's output, written by the process's pipes and
// read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRegistry makes one attempt: a port taken between choosing it and
// the registry binding it makes the registry exit (or another process
// answer without our token); then it returns nil and the registry's output,
// and the caller retries.
func startRegistry(t testing.TB, bin string) (*Registry, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	host := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		t.Fatal(err)
	}
	token := hex.EncodeToString(tok[:])
	storage := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "config.yml")
	conf := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  headers:
    %s: [%s]
`, storage, host, registryTokenHeader, token)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker-registry: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
	}
	t.Cleanup(stop)
	if registryReady(host, token, exited, 30*time.Second) {
		return &Registry{Host: host, Storage: storage, stop: stop}, ""
	}
	stop()
	return nil, out.String()
}

// registryReady polls /v2/ until the registry answers with token, it
// exits or the deadline passes.
func registryReady(host, token string, exited <-chan struct{}, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		resp, err := client.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.Header.Get(registryTokenHeader) == token {
				return true
			}
		}
		select {
		case <-exited:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}
