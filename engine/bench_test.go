package engine

import (
	"context"
	"testing"

	"github.com/hbuild/hbuild/profile"
)

// BenchmarkLoadPlanXML plans examples/xml (profile, locations, recipes,
// keys): the fixed cost of every hbuild build.
func BenchmarkLoadPlanXML(b *testing.B) {
	for b.Loop() {
		if _, err := LoadPlan(context.Background(), "../examples/xml/hbuild.cfg", PlanOptions{BaseDigest: "sha256:base", Load: profile.LoadOptions{IgnoreUserDefaults: true}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNoopBuild is a build where every part is cached.
func BenchmarkNoopBuild(b *testing.B) {
	path := writeProfile(b, map[string]string{"hbuild.cfg": diamond})
	e, _ := fakeEngine(b, b.TempDir(), 2, writeOutput)
	pl, err := e.Plan(context.Background(), path, PlanOptions{Load: profile.LoadOptions{IgnoreUserDefaults: true}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.Build(context.Background(), pl, nil); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := e.Build(context.Background(), pl, nil)
		if err != nil || len(res.Built) != 0 {
			b.Fatal(res, err)
		}
	}
}
