package policy

import (
	"os"
	"testing"

	"github.com/hbuild/hbuild/internal/testutil"
)

const benchTree = "/usr/lib/x86_64-linux-gnu"

// BenchmarkScan checks the host's library directory as one part, with the
// host's root as runtime base (every need is resolved through the search
// path as ld.so would), and reports ELF files checked per second.
func BenchmarkScan(b *testing.B) {
	_, err := os.Stat(benchTree)
	testutil.Require(b, err == nil, benchTree+" exists")
	var files int
	for b.Loop() {
		r, err := CheckPart(Tree{Dir: benchTree, Path: benchTree}, nil, Tree{Dir: "/"}, DefaultOptions())
		if err != nil {
			b.Fatal(err)
		}
		files += len(r.Files)
	}
	b.ReportMetric(float64(files)/b.Elapsed().Seconds(), "ELF-files/s")
}

// BenchmarkParseELF parses the host's libc.
func BenchmarkParseELF(b *testing.B) {
	const libc = benchTree + "/libc.so.6"
	_, err := os.Stat(libc)
	testutil.Require(b, err == nil, libc+" exists")
	for b.Loop() {
		if _, err := parseFile(libc); err != nil {
			b.Fatal(err)
		}
	}
}
