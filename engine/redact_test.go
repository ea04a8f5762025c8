package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Credentials in a URL change nothing that is built: they stay out of the
// part key and of what the key is made of.
func TestCredentialsStayOutOfKeys(t *testing.T) {
	fake := func(context.Context) (*Base, error) { return &Base{Name: "fake", Digest: "sha256:fake"}, nil }
	e, err := New(Options{CacheDir: t.TempDir(), Toolchain: fake, Glibc: fake})
	if err != nil {
		t.Fatal(err)
	}
	keyOf := func(url string) (string, string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "hbuild.cfg")
		cfg := "[buildout]\nparts = src\n[src]\nrecipe = slapos.recipe.build:download\nurl = " + url +
			"\nsha256 = " + strings.Repeat("ab", 32) + "\n"
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		pl := planWith(t, e, path)
		p := pl.Part("src")
		ki, err := json.Marshal(pl.keyInput(p))
		if err != nil {
			t.Fatal(err)
		}
		return p.Key, string(ki)
	}
	k1, in1 := keyOf("https://alice:s3cret@example.org/src-1.0.tar.gz")
	k2, _ := keyOf("https://bob:other@example.org/src-1.0.tar.gz")
	k3, _ := keyOf("https://example.org/src-1.0.tar.gz")
	if k1 != k2 || k1 != k3 {
		t.Errorf("keys differ by credentials: %s %s %s", k1, k2, k3)
	}
	if strings.Contains(in1, "s3cret") || strings.Contains(in1, "alice") {
		t.Errorf("the key input holds the credentials: %s", in1)
	}
	if k4, _ := keyOf("https://example.org/src-2.0.tar.gz"); k4 == k1 {
		t.Error("another URL gives the same key")
	}
}
