package pydist

import (
	"sort"
	"testing"
)

func TestCompareVersionsOrder(t *testing.T) {
	// Each version sorts strictly before the next.
	ordered := []string{
		"0.9",
		"1.0.dev1",
		"1.0a1.dev1",
		"1.0a1",
		"1.0a2.dev456",
		"1.0a12",
		"1.0b1.dev456",
		"1.0b2",
		"1.0b2.post3",
		"1.0b2.post345.dev456",
		"1.0b2.post345",
		"1.0b2-346",
		"1.0rc1.dev456",
		"1.0rc1",
		"1.0c2",
		"1.0",
		"1.0+abc.5",
		"1.0+abc.7",
		"1.0+5",
		"1.0+5.abc",
		"1.0.post1",
		"1.0.post456.dev34",
		"1.0.post456",
		"1.1.dev1",
		"1.2",
		"1.10",
		"2.0",
		"99999999999999999999999.0",
		"1!0.1",
		"2!0.0.dev0",
		"not a version",
		"zzz",
	}
	for i := 0; i+1 < len(ordered); i++ {
		a, b := ordered[i], ordered[i+1]
		if c := CompareVersions(a, b); c != -1 {
			t.Errorf("CompareVersions(%q, %q) = %d, want -1", a, b, c)
		}
		if c := CompareVersions(b, a); c != 1 {
			t.Errorf("CompareVersions(%q, %q) = %d, want 1", b, a, c)
		}
	}
	shuffled := append([]string(nil), ordered...)
	sort.Sort(sort.Reverse(sort.StringSlice(shuffled)))
	sort.SliceStable(shuffled, func(i, j int) bool { return CompareVersions(shuffled[i], shuffled[j]) < 0 })
	for i := range ordered {
		if shuffled[i] != ordered[i] {
			t.Fatalf("sorted = %q, want %q", shuffled, ordered)
		}
	}
}

func TestCompareVersionsEqual(t *testing.T) {
	for _, p := range [][2]string{
		{"1.0", "1.0.0"},
		{"1.0", "1"},
		{"v1.0", "1.0"},
		{"1.0.0.0", "1"},
		{"0!1.0", "1.0"},
		{"1.0alpha1", "1.0a1"},
		{"1.0-beta.2", "1.0b2"},
		{"1.0pre1", "1.0rc1"},
		{"1.0preview1", "1.0c1"},
		{"1.0a", "1.0a0"},
		{"1.0-1", "1.0.post1"},
		{"1.0rev1", "1.0.post1"},
		{"1.0r", "1.0.post0"},
		{"1.0_post_2", "1.0.post2"},
		{"1.0dev", "1.0.dev0"},
		{"1.0-dev-3", "1.0.dev3"},
		{"1.01", "1.1"},
		{"1.0+ABC", "1.0+abc"},
		{"1.0+1-2", "1.0+1.2"},
		{"1.0+007", "1.0+7"},
		{" 1.0 ", "1.0"},
		{"bogus", "bogus"},
	} {
		if c := CompareVersions(p[0], p[1]); c != 0 {
			t.Errorf("CompareVersions(%q, %q) = %d, want 0", p[0], p[1], c)
		}
	}
}

func TestValidVersion(t *testing.T) {
	for v, want := range map[string]bool{
		"1.0": true, "1!2.3.4a5.post6.dev7+local.8": true, "2012.10": true,
		"": false, "1.0.": false, "a1": false, "1.0+": false, "1.0+a..b": false,
		"1.0-custom": false, "1.0 2": false, "1.0a1b1": false,
	} {
		if got := ValidVersion(v); got != want {
			t.Errorf("ValidVersion(%q) = %v, want %v", v, got, want)
		}
	}
	for v, want := range map[string]bool{
		"1.0": false, "1.0a1": true, "1.0.dev0": true, "1.0.post1": false,
		"1.0.post1.dev2": true, "1.0rc1+local": true, "junk": false,
	} {
		if got := IsPrerelease(v); got != want {
			t.Errorf("IsPrerelease(%q) = %v, want %v", v, got, want)
		}
	}
}
