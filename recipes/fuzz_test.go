package recipes

import (
	"strings"
	"testing"
)

func FuzzPyFormat(f *testing.F) {
	for _, s := range []string{"", "%(a)s", "%%", "50%", "%(a", "%(zz)s x %(a)s %%(a)s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := PyFormat(s, map[string]string{"a": "1"})
		if err == nil && !strings.Contains(s, "%") && out != s {
			t.Fatalf("PyFormat(%q) = %q without any %%", s, out)
		}
	})
}

func FuzzSplitWords(f *testing.F) {
	for _, s := range []string{"a b", `"a b" c`, `'x'"y"\ z`, `["a", "b"]`, `"unterminated`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitWords(s)
		if err != nil {
			return
		}
		ascii := strings.IndexFunc(s, func(r rune) bool { return r >= 0x80 }) < 0 // strings.Fields also splits on Unicode spaces
		if ascii && !strings.HasPrefix(strings.TrimSpace(s), "[") && !strings.ContainsAny(s, `'"\`) {
			if strings.Join(words, " ") != strings.Join(strings.Fields(s), " ") {
				t.Fatalf("SplitWords(%q) = %q", s, words)
			}
		}
	})
}

// Any option values give a Build or an error, never a panic.
func FuzzCMMIOptions(f *testing.F) {
	f.Add("/a.tgz", "--x=%(location)s", "make", "install", "A=1\nB=%(PATH)s", "p.patch#0123456789abcdef0123456789abcdef", "true")
	f.Add("", "", "", "", "envsec", "", "yes")
	f.Fuzz(func(t *testing.T, url, copts, mk, targets, env, patches, shared string) {
		opts := map[string]string{"url": url, "configure-options": copts, "make-binary": mk, "make-targets": targets, "environment": env, "patches": patches, "shared": shared}
		b, err := prepareCMMI(testCtx(), opts)
		if err == nil && len(b.Sources) == 0 {
			t.Fatal("a Build without its source")
		}
	})
}
