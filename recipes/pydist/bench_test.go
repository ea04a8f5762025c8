package pydist

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
)

func BenchmarkCompareVersionsSort(b *testing.B) {
	var vs []string
	for i := 0; i < 200; i++ {
		vs = append(vs, fmt.Sprintf("%d.%d.%d", i%7, i%13, i), fmt.Sprintf("%d.%da%d", i%5, i%3, i), fmt.Sprintf("1!%d.post%d.dev%d", i, i%4, i%9))
	}
	work := make([]string, len(vs))
	b.ResetTimer()
	for b.Loop() {
		copy(work, vs)
		sort.Slice(work, func(i, j int) bool { return CompareVersions(work[i], work[j]) < 0 })
	}
}

func BenchmarkEvalMarker(b *testing.B) {
	env := Target{PythonVersion: "3.11.4"}.MarkerEnv()
	m := `(python_version < "3.8" or platform_python_implementation == "PyPy") and extra == "test" or sys_platform != "win32"`
	for b.Loop() {
		if _, err := EvalMarker(m, env, []string{"test"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLinks(b *testing.B) {
	var page strings.Builder
	page.WriteString("<html><body><h1>Links for demo</h1>\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&page, `<a href="../../packages/%02x/demo-1.%d.tar.gz#sha256=%064x" data-requires-python="&gt;=3.7">demo-1.%d.tar.gz</a><br/>`+"\n", i%256, i, i, i)
	}
	page.WriteString("</body></html>\n")
	data := []byte(page.String())
	base, err := url.Parse("https://index.test/simple/demo/")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if n := len(ParseLinks(data, base)); n != 2000 {
			b.Fatalf("%d links", n)
		}
	}
}

func BenchmarkReadMetadataSdist(b *testing.B) {
	members := setuptoolsSdist("foo-2.0.1")
	for i := 0; i < 2000; i++ {
		members = append(members, member{name: fmt.Sprintf("foo-2.0.1/src/foo/mod%d.py", i), data: strings.Repeat("x = 1\n", 200)})
	}
	p := writeTarGz(b, "foo-2.0.1.tar.gz", members)
	b.ResetTimer()
	for b.Loop() {
		if _, err := ReadMetadata(p); err != nil {
			b.Fatal(err)
		}
	}
}
