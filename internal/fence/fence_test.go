// Package fence holds the test that keeps heavy dependencies fenced, as
// ARCHITECTURE.md lays out: only sandbox/ imports libcontainer, only image/
// and cache/ talk to registries or containerd, and profile/ and policy/
// import nothing outside the standard library.
package fence

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/hbuild/hbuild/internal/testutil"
)

const module = "github.com/hbuild/hbuild/"

// fences maps a forbidden import prefix to the packages allowed to use it.
var fences = map[string][]string{
	"github.com/opencontainers/runc/":                      {"sandbox"},
	"github.com/opencontainers/cgroups":                    {"sandbox"},
	"github.com/google/go-containerregistry/pkg/v1/remote": {"image", "cache"},
	"github.com/containerd/containerd/":                    {"image"},
}

// stdlibOnly are packages that may import only the standard library (and
// their own subpackages).
var stdlibOnly = []string{"profile", "policy"}

type pkg struct {
	ImportPath string
	Imports    []string
}

func TestImportFences(t *testing.T) {
	gobin := testutil.RequireTool(t, "go")
	out, err := exec.Command(gobin, "list", "-json=ImportPath,Imports", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		n++
		rel := strings.TrimPrefix(p.ImportPath, module)
		top := strings.SplitN(rel, "/", 2)[0]
		for _, imp := range p.Imports {
			for prefix, allowed := range fences {
				if strings.HasPrefix(imp, prefix) && !contains(allowed, top) {
					t.Errorf("%s imports %s: only %v may", rel, imp, allowed)
				}
			}
			if contains(stdlibOnly, top) && strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") && !strings.HasPrefix(imp, module+top) {
				t.Errorf("%s imports %s: it may use the standard library only", rel, imp)
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list found only %d packages", n)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
