package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hbuild/hbuild/profile"
)

// fakeEngine is an engine whose parts are "built" by fn instead of the
// sandbox.
func fakeEngine(t testing.TB, cacheDir string, jobs int, fn func(ctx context.Context, b *PartBuild) error) (*Engine, *eventLog) {
	t.Helper()
	ev := &eventLog{}
	fake := func(context.Context) (*Base, error) { return &Base{Name: "fake", Digest: "sha256:fake"}, nil }
	e, err := New(Options{CacheDir: cacheDir, Jobs: jobs, Toolchain: fake, Glibc: fake, BuildPart: fn, Events: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	return e, ev
}

type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) add(e Event) { l.mu.Lock(); l.evs = append(l.evs, e); l.mu.Unlock() }

func (l *eventLog) parts(kind EventKind) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.evs {
		if e.Kind == kind {
			out = append(out, e.Part)
		}
	}
	sort.Strings(out)
	return out
}

func writeOutput(_ context.Context, b *PartBuild) error {
	return os.WriteFile(filepath.Join(b.Out, b.Part.Name+".txt"), []byte(b.Part.Key), 0o644)
}

// A diamond: d needs b and c, which need a; e stands alone.
const diamond = `
[buildout]
parts = d e
[a]
recipe = build
script = echo a
[b]
recipe = build
script = echo ${a:location}
[c]
recipe = build
script = echo ${a:location}
[d]
recipe = build
script = echo ${b:location} ${c:location}
[e]
recipe = build
script = echo e
`

func planWith(t *testing.T, e *Engine, path string, overrides ...string) *Plan {
	t.Helper()
	pl, err := e.Plan(context.Background(), path, PlanOptions{Load: profile.LoadOptions{IgnoreUserDefaults: true, Overrides: overrides}})
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

func TestBuildCachesAndRebuildsOnlyWhatChanged(t *testing.T) {
	cache := t.TempDir()
	path := writeProfile(t, map[string]string{"hbuild.cfg": diamond})
	e, ev := fakeEngine(t, cache, 2, func(ctx context.Context, b *PartBuild) error {
		// dependencies are mounted from the store, complete
		for _, d := range b.Deps {
			if _, err := os.Stat(filepath.Join(d.Entry.Tree(), d.Name+".txt")); err != nil {
				return fmt.Errorf("dependency %s of %s not complete: %v", d.Name, b.Part.Name, err)
			}
		}
		return writeOutput(ctx, b)
	})
	pl := planWith(t, e, path)
	res, err := e.Build(context.Background(), pl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Built, []string{"a", "b", "c", "d", "e"}) || len(res.Cached) != 0 {
		t.Fatalf("first build: built %v cached %v", res.Built, res.Cached)
	}
	// d's deps are all of a, b, c (transitively) with a first.
	for _, p := range pl.Parts {
		ent, err := e.Store.Get(p.Key)
		if err != nil || ent == nil {
			t.Fatalf("%s not stored: %v", p.Name, err)
		}
		if ent.Meta.Layer.Digest == "" || ent.Meta.Part != p.Name {
			t.Errorf("%s meta %+v", p.Name, ent.Meta)
		}
	}
	// Second build: nothing built.
	e2, ev2 := fakeEngine(t, cache, 2, func(context.Context, *PartBuild) error { return errors.New("must not build") })
	res, err = e2.Build(context.Background(), planWith(t, e2, path), nil)
	if err != nil || len(res.Built) != 0 || len(res.Cached) != 5 {
		t.Fatalf("second build: %+v %v", res, err)
	}
	if got := ev2.parts(EvCached); len(got) != 5 {
		t.Errorf("cached events %v", got)
	}
	_ = ev
	// Changing b rebuilds b and d only; explain says why first.
	pl3 := planWith(t, e, path, "b:script=echo changed ${a:location}")
	why, err := e.Explain(pl3, "b")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(why, "\n"), "option script changed") {
		t.Errorf("explain b: %q", why)
	}
	why, err = e.Explain(pl3, "d")
	if err != nil || !strings.Contains(strings.Join(why, "\n"), "dependency b changed") || strings.Contains(strings.Join(why, "\n"), "option script") {
		t.Errorf("explain d: %q %v", why, err)
	}
	why, err = e.Explain(pl3, "a")
	if err != nil || len(why) != 1 || !strings.Contains(why[0], "cached") {
		t.Errorf("explain a: %q %v", why, err)
	}
	res, err = e.Build(context.Background(), pl3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Built, []string{"b", "d"}) || !reflect.DeepEqual(res.Cached, []string{"a", "c", "e"}) {
		t.Fatalf("after change: built %v cached %v", res.Built, res.Cached)
	}
	_ = pl
}

func TestScheduleParallelWithinJobs(t *testing.T) {
	path := writeProfile(t, map[string]string{"hbuild.cfg": diamond})
	var cur, max atomic.Int64
	bothStarted := make(chan struct{})
	var once sync.Once
	var startedBC atomic.Int32
	e, _ := fakeEngine(t, t.TempDir(), 4, func(ctx context.Context, b *PartBuild) error {
		n := cur.Add(int64(b.Jobs))
		defer cur.Add(-int64(b.Jobs))
		for {
			m := max.Load()
			if n <= m || max.CompareAndSwap(m, n) {
				break
			}
		}
		if b.Jobs < 1 {
			return fmt.Errorf("%s got %d jobs", b.Part.Name, b.Jobs)
		}
		if b.Part.Name == "b" || b.Part.Name == "c" {
			// b and c are independent: with 4 jobs they run at once.
			if startedBC.Add(1) == 2 {
				once.Do(func() { close(bothStarted) })
			}
			select {
			case <-bothStarted:
			case <-time.After(60 * time.Second):
				return errors.New("b and c did not run in parallel")
			}
		}
		return writeOutput(ctx, b)
	})
	if _, err := e.Build(context.Background(), planWith(t, e, path), nil); err != nil {
		t.Fatal(err)
	}
	if max.Load() > 4 {
		t.Fatalf("%d jobs at once with -j4", max.Load())
	}
}

func TestScheduleStopsOnFailure(t *testing.T) {
	path := writeProfile(t, map[string]string{"hbuild.cfg": diamond})
	for _, keepGoing := range []bool{false, true} {
		t.Run(fmt.Sprint("keepGoing=", keepGoing), func(t *testing.T) {
			var ran sync.Map
			e, ev := fakeEngine(t, t.TempDir(), 1, func(ctx context.Context, b *PartBuild) error {
				ran.Store(b.Part.Name, true)
				if b.Part.Name == "b" {
					b.Step("make")
					fmt.Fprintln(b.Log, "cc: error: boom")
					return errors.New("make failed")
				}
				return writeOutput(ctx, b)
			})
			e.opts.KeepGoing = keepGoing
			res, err := e.Build(context.Background(), planWith(t, e, path), nil)
			var be *BuildError
			if !errors.As(err, &be) {
				t.Fatalf("error %v", err)
			}
			var pe *PartError
			if !errors.As(be.Failed["b"], &pe) || pe.Step != "make" || pe.Part != "b" || !strings.HasSuffix(pe.Log, ".log") {
				t.Fatalf("b's error %#v", be.Failed["b"])
			}
			log, _ := os.ReadFile(pe.Log)
			if !strings.Contains(string(log), "cc: error: boom") {
				t.Errorf("log %q", log)
			}
			if !IsSkipped(be.Failed["d"]) {
				t.Errorf("d: %v", be.Failed["d"])
			}
			if _, ok := ran.Load("d"); ok {
				t.Error("d built although b failed")
			}
			// Order with -j1 is a, e, b, c, d: after b fails, only keepGoing builds c.
			_, c := ran.Load("c")
			if c != keepGoing {
				t.Errorf("keepGoing=%v but c ran %v", keepGoing, c)
			}
			if got := ev.parts(EvFailed); !reflect.DeepEqual(got, []string{"b"}) {
				t.Errorf("failed events %v", got)
			}
			_ = res
			tmps, _ := os.ReadDir(filepath.Join(e.Store.Dir(), "tmp"))
			if len(tmps) != 0 {
				t.Errorf("leftover temporary entries %v", tmps)
			}
		})
	}
}

func TestBuildCancel(t *testing.T) {
	path := writeProfile(t, map[string]string{"hbuild.cfg": diamond})
	ctx, cancel := context.WithCancel(context.Background())
	e, _ := fakeEngine(t, t.TempDir(), 2, func(ctx context.Context, b *PartBuild) error {
		if b.Part.Name == "a" {
			if err := writeOutput(ctx, b); err != nil {
				return err
			}
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}
		return writeOutput(ctx, b)
	})
	pl := planWith(t, e, path)
	_, err := e.Build(ctx, pl, []string{"d"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	for _, p := range pl.Parts {
		if ent, _ := e.Store.Get(p.Key); ent != nil && p.Name != "e" {
			t.Errorf("%s stored after cancel", p.Name)
		}
	}
	tmps, _ := os.ReadDir(filepath.Join(e.Store.Dir(), "tmp"))
	if len(tmps) != 0 {
		t.Errorf("leftover temporary entries %v", tmps)
	}
}

// Two builds of one profile on one cache at once build each part once.
func TestConcurrentBuildsShareCache(t *testing.T) {
	cache := t.TempDir()
	path := writeProfile(t, map[string]string{"hbuild.cfg": diamond})
	var count sync.Map
	fn := func(ctx context.Context, b *PartBuild) error {
		n, _ := count.LoadOrStore(b.Part.Name, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		return writeOutput(ctx, b)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		e, _ := fakeEngine(t, cache, 2, fn)
		pl := planWith(t, e, path)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.Build(context.Background(), pl, nil)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	count.Range(func(k, v any) bool {
		if n := v.(*atomic.Int32).Load(); n != 1 {
			t.Errorf("%s built %d times", k, n)
		}
		return true
	})
}
