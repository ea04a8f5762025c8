package engine

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/hbuild/hbuild/cache"
)

func memRegistry(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return srv
}

func withRemote(t *testing.T, e *Engine, srv *httptest.Server) {
	t.Helper()
	r, err := cache.OpenRemote(strings.TrimPrefix(srv.URL, "http://")+"/hbuild/cache", cache.RemoteOptions{Insecure: true, Keychain: authn.NewMultiKeychain()})
	if err != nil {
		t.Fatal(err)
	}
	e.Remote = r
}

// Machine A builds with the shared cache; machine B, with an empty cache
// directory, builds nothing: every part comes from the registry.
func TestRemoteCacheSharesBuilds(t *testing.T) {
	srv := memRegistry(t)
	path := writeProfile(t, map[string]string{"hbuild.cfg": diamond})
	a, _ := fakeEngine(t, t.TempDir(), 2, writeOutput)
	withRemote(t, a, srv)
	res, err := a.Build(context.Background(), planWith(t, a, path), nil)
	if err != nil || len(res.Built) != 5 {
		t.Fatalf("machine A: %+v %v", res, err)
	}
	b, evB := fakeEngine(t, t.TempDir(), 2, func(context.Context, *PartBuild) error { return errors.New("must not build") })
	withRemote(t, b, srv)
	plB := planWith(t, b, path)
	res, err = b.Build(context.Background(), plB, nil)
	if err != nil || len(res.Built) != 0 || len(res.Cached) != 5 {
		t.Fatalf("machine B: %+v %v", res, err)
	}
	if w := evB.parts(EvWarning); len(w) != 0 {
		t.Errorf("warnings on B: %v", w)
	}
	for _, p := range plB.Parts {
		ea, _ := a.Store.Get(p.Key)
		eb, _ := b.Store.Get(p.Key)
		if ea == nil || eb == nil || ea.Meta.Layer.Digest != eb.Meta.Layer.Digest {
			t.Errorf("%s: A %v, B %v", p.Name, ea, eb)
		}
	}
}

// Two machines that both miss build at once: both succeed, and a third
// finds every part.
func TestRemoteCacheRacingBuilders(t *testing.T) {
	srv := memRegistry(t)
	path := writeProfile(t, map[string]string{"hbuild.cfg": diamond})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		e, _ := fakeEngine(t, t.TempDir(), 2, writeOutput)
		withRemote(t, e, srv)
		pl := planWith(t, e, path)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.Build(context.Background(), pl, nil)
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("builds: %v, %v", errs[0], errs[1])
	}
	c, _ := fakeEngine(t, t.TempDir(), 2, func(context.Context, *PartBuild) error { return errors.New("must not build") })
	withRemote(t, c, srv)
	if res, err := c.Build(context.Background(), planWith(t, c, path), nil); err != nil || len(res.Cached) != 5 {
		t.Fatalf("machine C: %+v %v", res, err)
	}
}

// A registry that is gone makes the build go on locally, with a warning.
func TestRemoteCacheRegistryGone(t *testing.T) {
	srv := memRegistry(t)
	path := writeProfile(t, map[string]string{"hbuild.cfg": diamond})
	var built atomic.Int32
	e, ev := fakeEngine(t, t.TempDir(), 2, func(ctx context.Context, b *PartBuild) error {
		built.Add(1)
		return writeOutput(ctx, b)
	})
	withRemote(t, e, srv)
	srv.Close()
	res, err := e.Build(context.Background(), planWith(t, e, path), nil)
	if err != nil || len(res.Built) != 5 || built.Load() != 5 {
		t.Fatalf("build without the registry: %+v %v", res, err)
	}
	if len(ev.parts(EvWarning)) == 0 {
		t.Error("no warning about the registry")
	}
}
