package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/hbuild/hbuild/profile"
)

// TestPlanProfileWarnings: the profile's warnings (here `-=` on an option
// that does not exist; in the nested merge also the raw "k +" key of a
// section new everywhere, which the flattened merge resolves) become
// EvWarning events with file and line, and the merge mode reaches the
// profile loader.
func TestPlanProfileWarnings(t *testing.T) {
	path := writeProfile(t, map[string]string{
		"base.cfg":   "[s]\ny = 1\n[a]\nrecipe = build\nscript = echo a\n",
		"hbuild.cfg": "[buildout]\nextends = base.cfg\nparts = a\n[s]\nx -= z\n[t]\nk += v\n",
	})
	for mode, n := range map[string]int{profile.MergeNested: 2, profile.MergeFlattened: 1} {
		e, ev := fakeEngine(t, t.TempDir(), 1, writeOutput)
		pl, err := e.Plan(context.Background(), path, PlanOptions{Load: profile.LoadOptions{IgnoreUserDefaults: true, Merge: mode}})
		if err != nil {
			t.Fatal(err)
		}
		w := eventLines(ev, EvWarning)
		if strings.Count(w, "\n") != n || !strings.Contains(w, "hbuild.cfg:5: warning: `x -=` in [s]") {
			t.Fatalf("%s: warnings %q", mode, w)
		}
		if n == 2 && !strings.Contains(w, "hbuild.cfg:7: warning: `k +=` in [t] is never applied") {
			t.Fatalf("%s: warnings %q", mode, w)
		}
		if len(pl.Profile.Warnings()) != n {
			t.Fatalf("%s: profile warnings %+v", mode, pl.Profile.Warnings())
		}
	}
}
