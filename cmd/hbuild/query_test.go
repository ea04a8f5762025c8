package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// runSplit runs hbuild with separate stdout and stderr.
func runSplit(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

// TestQueryMergeFlag: --merge selects the merge mode (spec §16 T12), the
// root profile's hbuild-merge is the default, and an unknown mode fails.
func TestQueryMergeFlag(t *testing.T) {
	files := map[string]string{
		"buildout.cfg": "[buildout]\nextends = a.cfg b.cfg\nparts =\n",
		"a.cfg":        "[s]\nx = 1\n",
		"b.cfg":        "[buildout]\nextends = c.cfg\n[s]\nx += 2\n",
		"c.cfg":        "[s]\ny = 0\n",
	}
	cfg := writeTestProfile(t, files)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "\n2\n"},
		{[]string{"--merge", "nested"}, "\n2\n"},
		{[]string{"--merge", "flattened"}, "1\n2\n"},
	} {
		args := append(append([]string{"-U", "-c", cfg}, tc.args...), "query", "s:x")
		out, _, err := runSplit(t, args...)
		if err != nil || out != tc.want {
			t.Errorf("%v: %q, %v; want %q", tc.args, out, err, tc.want)
		}
	}
	files["buildout.cfg"] += "hbuild-merge = flattened\n"
	cfg = writeTestProfile(t, files)
	if out, _, err := runSplit(t, "-U", "-c", cfg, "query", "s:x"); err != nil || out != "1\n2\n" {
		t.Errorf("hbuild-merge = flattened: %q, %v", out, err)
	}
	if out, _, err := runSplit(t, "-U", "-c", cfg, "--merge", "nested", "query", "s:x"); err != nil || out != "\n2\n" {
		t.Errorf("--merge nested over hbuild-merge: %q, %v", out, err)
	}
	if _, _, err := runSplit(t, "-U", "-c", cfg, "--merge", "head", "query", "s:x"); err == nil || !strings.Contains(err.Error(), "flattened") {
		t.Errorf("--merge head: %v", err)
	}
}

// TestQueryAnnotateWarnings: warnings go to stderr as file:line: warning:
// and results stay alone on stdout.
func TestQueryAnnotateWarnings(t *testing.T) {
	cfg := writeTestProfile(t, map[string]string{
		"base.cfg":     "[s]\ny = 1\n",
		"buildout.cfg": "[buildout]\nextends = base.cfg\nparts =\n[s]\nx -= a\n",
	})
	want := filepath.Join(filepath.Dir(cfg), "buildout.cfg") + ":5: warning: `x -=` in [s] removes lines from an option that does not exist"
	out, errs, err := runSplit(t, "-U", "-c", cfg, "query", "s:y")
	if err != nil || out != "1\n" {
		t.Fatalf("query: %q, %v", out, err)
	}
	if !strings.HasPrefix(errs, want) || strings.Count(errs, "\n") != 1 {
		t.Fatalf("query stderr %q; want a line starting %q", errs, want)
	}
	out, errs, err = runSplit(t, "-U", "-c", cfg, "annotate", "s")
	if err != nil || !strings.Contains(out, "[s]") || strings.Contains(out, "warning") {
		t.Fatalf("annotate: %q, %v", out, err)
	}
	if !strings.HasPrefix(errs, want) {
		t.Fatalf("annotate stderr %q; want a line starting %q", errs, want)
	}
	if _, _, err := runSplit(t, "-U", "-c", cfg, "annotate", "--strict", "s"); err == nil {
		t.Fatal("annotate --strict: no error for -= on a missing option")
	}
}

// An option a recipe accepts but ignores (gitclone's git-executable) gets a
// note from annotate, with the file and line that set it.
func TestAnnotateIgnoredOptionNote(t *testing.T) {
	cfg := writeTestProfile(t, map[string]string{
		"buildout.cfg": "[buildout]\nparts = src\n[src]\nrecipe = slapos.recipe.build:gitclone\nrepository = file:///nowhere\n" +
			"revision = 0123456789012345678901234567890123456789\ngit-executable = /usr/bin/git\n",
	})
	_, errs, err := runSplit(t, "-U", "-c", cfg, "annotate", "src")
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(filepath.Dir(cfg), "buildout.cfg") + ":7: note: src:git-executable: ignored: hbuild fetches git sources itself"
	if !strings.HasPrefix(errs, want) {
		t.Fatalf("annotate stderr %q; want a line starting %q", errs, want)
	}
}

// include-site-packages = false holds by construction (the build base has
// no Python): annotate says so, in [buildout] and in an egg part.
func TestAnnotateSitePackagesNote(t *testing.T) {
	cfg := writeTestProfile(t, map[string]string{
		"buildout.cfg": "[buildout]\nparts =\ninclude-site-packages = false\n[eggs]\nrecipe = zc.recipe.egg\n" +
			"allowed-eggs-from-site-packages =\n",
	})
	_, errs, err := runSplit(t, "-U", "-c", cfg, "annotate")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(filepath.Dir(cfg), "buildout.cfg")
	for _, want := range []string{
		file + ":3: note: buildout:include-site-packages: holds by construction: hbuild's build base has no Python",
		file + ":6: note: eggs:allowed-eggs-from-site-packages: holds by construction",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("annotate stderr %q; want a line starting %q", errs, want)
		}
	}
}
