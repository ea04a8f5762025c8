package profile

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hbuild/hbuild/profile/internal/benchtree"
)

// BenchmarkLoad400 loads the generated tree of 400 files and about 3,000
// sections (extends chains and diamonds, +=, macros, substitution): what
// `hbuild annotate` does. Goal: under 50 ms per load.
func BenchmarkLoad400(b *testing.B) {
	root, st, err := benchtree.Generate(b.TempDir(), benchtree.Default())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		p, err := Load(root, LoadOptions{IgnoreUserDefaults: true})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Files()) != st.Files {
			b.Fatalf("read %d files, want %d", len(p.Files()), st.Files)
		}
	}
	reportCPU(b, cpu0)
}

// BenchmarkLoad400Flat is BenchmarkLoad400 with the flattened merge
// (every diamond re-applies its shared base, so more merges).
func BenchmarkLoad400Flat(b *testing.B) {
	root, st, err := benchtree.Generate(b.TempDir(), benchtree.Default())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		p, err := Load(root, LoadOptions{IgnoreUserDefaults: true, Merge: MergeFlattened})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Files()) != st.Files {
			b.Fatalf("read %d files, want %d", len(p.Files()), st.Files)
		}
	}
	reportCPU(b, cpu0)
}

// cpuTime is the process's user + system CPU time: unlike wall time it
// does not grow when other processes compete for the CPUs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// BenchmarkLoadResolve400 loads the same tree and substitutes every option
// of every section (what planning a build needs).
func BenchmarkLoadResolve400(b *testing.B) {
	root, _, err := benchtree.Generate(b.TempDir(), benchtree.Default())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		p, err := Load(root, LoadOptions{IgnoreUserDefaults: true})
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range p.SectionNames() {
			if _, err := p.Resolve(s); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportCPU(b, cpu0)
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
	v, err := p.Get("c150-p0", "context")
	if err != nil || v != "key location c150:location\nraw n 0" {
		t.Fatalf("c150-p0:context = %q, %v", v, err)
	}
	v, err = p.Get("c150-p3", "url")
	if err != nil || v != "http://["+filepath.Dir(root)+"]:8003/" {
		t.Fatalf("c150-p3:url = %q, %v", v, err)
	}
	refs, err := p.Refs("s00")
	if err != nil || len(refs) == 0 {
		t.Fatalf("Refs(s00) = %v, %v", refs, err)
	}
}
