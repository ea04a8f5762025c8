package profile

import (
	"testing"

	"github.com/hbuild/hbuild/profile/internal/benchtree"
)

// BenchmarkLoad400 loads the generated tree of 400 files and about 3,000
// sections (extends chains and diamonds, +=, macros, substitution) and
// resolves every section. Goal: under 50 ms per load.
func BenchmarkLoad400(b *testing.B) {
	root, st, err := benchtree.Generate(b.TempDir(), benchtree.Default())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := Load(root, LoadOptions{IgnoreUserDefaults: true})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Files()) != st.Files {
			b.Fatalf("read %d files, want %d", len(p.Files()), st.Files)
		}
		for _, s := range p.SectionNames() {
			if _, err := p.Resolve(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestBenchTree checks that the benchmark tree loads, resolves and has
// the size the benchmark claims.
func TestBenchTree(t *testing.T) {
	root, st, err := benchtree.Generate(t.TempDir(), benchtree.Default())
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 400 || st.Sections < 2800 || st.Sections > 3200 || st.Opens < 1000 {
		t.Fatalf("tree stats %+v", st)
	}
	p, err := Load(root, LoadOptions{IgnoreUserDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(p.SectionNames()); got < st.Sections {
		t.Fatalf("%d sections, want at least %d", got, st.Sections)
	}
	for _, s := range p.SectionNames() {
		if _, err := p.Resolve(s); err != nil {
			t.Fatal(err)
		}
	}
	v, err := p.Get("c150-p3", "context")
	if err != nil || v != "key location c150:location\nraw n 3" {
		t.Fatalf("c150-p3:context = %q, %v", v, err)
	}
	refs, err := p.Refs("s00")
	if err != nil || len(refs) == 0 {
		t.Fatalf("Refs(s00) = %v, %v", refs, err)
	}
}
