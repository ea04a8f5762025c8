package engine

import (
	"context"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// Two hbuild processes building the same profile into one cache at once
// build each part once: the second waits for the first's lock and reuses
// its result.
func TestSandboxTwoProcesses(t *testing.T) {
	if spec := os.Getenv("HBUILD_ENGINE_CHILD"); spec != "" {
		profilePath, cache, _ := strings.Cut(spec, "|")
		e, _ := realEngine(t, cache, Options{})
		res, err := e.Build(context.Background(), planReal(t, e, profilePath), nil)
		if err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("BUILT " + strings.Join(res.Built, " ") + "\n")
		return
	}
	f := newFixture(t)
	path := f.profile(t, "")
	cache := t.TempDir()
	e, _ := realEngine(t, cache, Options{})
	child := exec.Command(os.Args[0], "-test.run", "^TestSandboxTwoProcesses$", "-test.v")
	child.Env = append(os.Environ(), "HBUILD_ENGINE_CHILD="+path+"|"+cache)
	var out strings.Builder
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	res, err := e.Build(context.Background(), planReal(t, e, path), nil)
	werr := child.Wait()
	if err != nil || werr != nil {
		t.Fatalf("parent: %v; child: %v\n%s", err, werr, out.String())
	}
	var childBuilt []string
	for _, l := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, "BUILT"); ok {
			childBuilt = strings.Fields(rest)
		}
	}
	all := append(append([]string(nil), res.Built...), childBuilt...)
	sort.Strings(all)
	if strings.Join(all, " ") != "greet hello" {
		t.Fatalf("parent built %v, child built %v: each part must be built exactly once\n%s", res.Built, childBuilt, out.String())
	}
}
