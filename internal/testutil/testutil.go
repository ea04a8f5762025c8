// Package testutil holds the helpers that make privilege and tool
// requirements explicit in tests: outside CI a missing capability skips the
// test with a reason, with CI=true it fails it.
package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// CI reports whether the tests run in CI (CI=true), where nothing may skip.
func CI() bool { return os.Getenv("CI") == "true" }

// Require skips the test when ok is false (outside CI) or fails it (in CI).
func Require(t testing.TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if CI() {
		t.Fatalf("CI=true and a requirement is missing: %s", why)
	}
	t.Skipf("requirement missing: %s", why)
}

// RequireRoot requires the test to run as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "needs root")
}

// RequireNonRoot requires an unprivileged user. Rootless tests run as the
// user scripts/rootless-tests.sh creates; under root they skip unless
// HBUILD_TEST_ROOTLESS=1 says this run is the rootless one.
func RequireNonRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		if os.Getenv("HBUILD_TEST_ROOTLESS") == "1" {
			t.Fatal("HBUILD_TEST_ROOTLESS=1 but running as root")
		}
		t.Skip("rootless test: run by scripts/rootless-tests.sh as an unprivileged user")
	}
}

// RequireTool requires an executable on PATH and returns its path.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, err == nil, name+" not on PATH (make deps installs it)")
	return p
}
