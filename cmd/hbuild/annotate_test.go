package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runProfileCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func writeTestProfile(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "buildout.cfg")
}

func TestQueryAndAnnotate(t *testing.T) {
	cfg := writeTestProfile(t, map[string]string{
		"base.cfg": "[s]\nx = 1\nz = first\n",
		"buildout.cfg": "[buildout]\nextends = base.cfg\nparts =\n[s]\nx = 2\nz += more\ny = ${:x}-${t:v}\n" +
			"[t]\nv = tv\n",
	})
	out, err := runProfileCmd(t, "-U", "-c", cfg, "query", "s:y")
	if err != nil || out != "2-tv\n" {
		t.Fatalf("query s:y = %q, %v", out, err)
	}
	out, err = runProfileCmd(t, "-U", "-c", cfg, "query", "s:y", "s:x=9")
	if err != nil || out != "9-tv\n" {
		t.Fatalf("query s:y s:x=9 = %q, %v", out, err)
	}
	out, err = runProfileCmd(t, "-U", "-c", cfg, "-o", "t:v=o", "query", "s:y")
	if err != nil || out != "2-o\n" {
		t.Fatalf("query -o t:v=o s:y = %q, %v", out, err)
	}
	out, err = runProfileCmd(t, "-U", "-c", cfg, "annotate", "s")
	want := "\nAnnotated sections\n==================\n\n[s]\n" +
		"x= 2\n    buildout.cfg\n" +
		"y= ${:x}-${t:v}\n    buildout.cfg\n" +
		"z= first\nmore\n    base.cfg\n+=  buildout.cfg\n"
	if err != nil || out != want {
		t.Fatalf("annotate s:\n%s\nerr %v\nwant:\n%s", out, err, want)
	}
	out, err = runProfileCmd(t, "-U", "-c", cfg, "annotate", "--json", "s")
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]map[string]struct {
		Value   string
		Origins []struct {
			File string
			Line int
			Op   string
		}
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("annotate --json: %v\n%s", err, out)
	}
	z := j["s"]["z"]
	if z.Value != "first\nmore" || len(z.Origins) != 2 || z.Origins[1].Op != "+=" || z.Origins[1].Line != 6 ||
		filepath.Base(z.Origins[0].File) != "base.cfg" {
		t.Fatalf("annotate --json s:z = %+v", z)
	}
	if _, ok := j["buildout"]; ok {
		t.Fatal("annotate --json s printed [buildout]")
	}
}

func TestQueryErrors(t *testing.T) {
	cfg := writeTestProfile(t, map[string]string{
		"buildout.cfg": "[buildout]\nparts =\n[s]\nx = ${nosuch:y}\n",
	})
	_, err := runProfileCmd(t, "-U", "-c", cfg, "query", "s:x")
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "buildout.cfg:4:") {
		t.Fatalf("bad reference: exit %d, %v", exitCode(err), err)
	}
	bad := writeTestProfile(t, map[string]string{"buildout.cfg": "[buildout]\nparts =\nnot an option\n"})
	_, err = runProfileCmd(t, "-U", "-c", bad, "annotate")
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "buildout.cfg:3:") {
		t.Fatalf("syntax error: exit %d, %v", exitCode(err), err)
	}
	minus := writeTestProfile(t, map[string]string{"base.cfg": "[s]\nx = 1\n",
		"buildout.cfg": "[buildout]\nextends = base.cfg\nparts =\n[s]\ny -= a\n"})
	if out, errs, err := runSplit(t, "-U", "-c", minus, "query", "s:y"); err != nil || out != "\n" || !strings.Contains(errs, "buildout.cfg:5: warning: ") {
		t.Fatalf("-= on a missing option: %q, %v, stderr %q (zc.buildout accepts it; hbuild warns)", out, err, errs)
	}
	_, err = runProfileCmd(t, "-U", "-c", minus, "query", "--strict", "s:y")
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "buildout.cfg:5:") {
		t.Fatalf("--strict -= on a missing option: exit %d, %v", exitCode(err), err)
	}
	_, err = runProfileCmd(t, "-U", "-c", cfg, "query")
	if exitCode(err) != 2 {
		t.Fatalf("query without argument: exit %d, %v", exitCode(err), err)
	}
	_, err = runProfileCmd(t, "-U", "-c", cfg, "query", "a:b:c")
	if exitCode(err) != 2 {
		t.Fatalf("query a:b:c: exit %d, %v", exitCode(err), err)
	}
}
