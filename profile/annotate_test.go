package profile

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var updateAnnotate = flag.Bool("update-annotate", false, "regenerate testdata/annotate/*.txt with /usr/bin/buildout annotate")

// TestAnnotateGolden compares `annotate` with zc.buildout's own annotate
// output for every conformance case that loads: testdata/annotate/<case>.txt
// holds what `/usr/bin/buildout [-U] [assignments] annotate` printed
// (regenerate with go test -run TestAnnotateGolden -update-annotate), with
// the case directory written @@DIR@@ and HOME @@HOME@@, without the
// machine-dependent buildout:executable.
func TestAnnotateGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "conformance", "*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		name := filepath.Base(d)
		if _, bad := deviations[name]; bad {
			continue
		}
		exp, err := os.ReadFile(filepath.Join(d, "expected.json"))
		if err != nil || !bytes.Contains(exp, []byte(`"error": null`)) {
			continue
		}
		golden := filepath.Join("testdata", "annotate", name+".txt")
		if _, err := os.Stat(golden); err != nil && !*updateAnnotate {
			continue // a case newer than the annotate goldens
		}
		n++
		t.Run(name, func(t *testing.T) { annotateCase(t, d, golden) })
	}
	if n < 40 {
		t.Fatalf("only %d annotate goldens", n)
	}
}

func annotateCase(t *testing.T, d, golden string) {
	src, err := filepath.Abs(d)
	if err != nil {
		t.Fatal(err)
	}
	// Work on a copy, as the golden generator does (zc.buildout creates
	// directories in the buildout directory).
	dir := filepath.Join(t.TempDir(), "case")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	if _, err := os.Stat(home); err != nil {
		home = t.TempDir()
	}
	t.Setenv("HOME", home)
	os.Unsetenv("BUILDOUT_HOME")
	t.Setenv("BUILDOUT_HOME", "")
	os.Unsetenv("BUILDOUT_HOME")
	env := []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
	for _, l := range readLines(t, filepath.Join(dir, "env")) {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, _ := strings.Cut(l, "=")
		v = strings.ReplaceAll(strings.ReplaceAll(v, "@@HOME@@", home), "@@DIR@@", dir)
		t.Setenv(strings.TrimSpace(k), v)
		env = append(env, strings.TrimSpace(k)+"="+v)
	}
	var opts LoadOptions
	var args []string
	for _, l := range readLines(t, filepath.Join(dir, "args")) {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case l == "-U":
			opts.IgnoreUserDefaults = true
			args = append([]string{"-U"}, args...)
		default:
			opts.Overrides = append(opts.Overrides, l)
			args = append(args, l)
		}
	}
	clean := func(b []byte) string {
		var out []string
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			l := lines[i]
			if strings.HasPrefix(l, "Creating directory") {
				continue
			}
			if strings.HasPrefix(l, "executable=") {
				i++ // and its origin line
				continue
			}
			out = append(out, l)
		}
		return strings.NewReplacer(home, "@@HOME@@", dir, "@@DIR@@").Replace(strings.Join(out, "\n"))
	}
	if *updateAnnotate {
		cmd := exec.Command("/usr/bin/buildout", append(append([]string{"-c", filepath.Join(dir, "buildout.cfg")}, args...), "annotate")...)
		cmd.Dir = dir
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("buildout annotate: %v\n%s", err, stderr.String())
		}
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(clean(out)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(filepath.Join(dir, "buildout.cfg"), opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var buf bytes.Buffer
	if err := p.Annotate(&buf, nil, false); err != nil {
		t.Fatal(err)
	}
	if got := clean(buf.Bytes()); got != string(want) {
		t.Errorf("annotate differs from zc.buildout's:\n--- zc.buildout\n%s\n--- hbuild\n%s", want, got)
	}
}
