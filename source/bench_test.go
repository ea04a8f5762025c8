package source

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchTar is a tar of a real source tree: HBUILD_BENCH_SRC (a directory)
// or, by default, the Go distribution's src/net.
func benchTar(b *testing.B) []byte {
	src := os.Getenv("HBUILD_BENCH_SRC")
	if src == "" {
		out, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			b.Skip("set HBUILD_BENCH_SRC to a source directory")
		}
		src = filepath.Join(strings.TrimSpace(string(out)), "src", "net")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	base := filepath.Dir(src)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if d.Type()&fs.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// cpuTime is the CPU time (user + system) used so far by this process
// and by its waited-for children: on a loaded machine it says more than
// wall time.
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

// BenchmarkUnpack compares Unpack with the system's tar on the same
// archive, per format.
func BenchmarkUnpack(b *testing.B) {
	raw := benchTar(b)
	dir := b.TempDir()
	formats := []struct {
		name, tool string
		args       []string
		tarFlag    string
	}{
		{"tar", "", nil, ""},
		{"gz", "gzip", []string{"-c", "-6"}, "--gzip"},
		{"xz", "xz", []string{"-c", "-6", "-T1"}, "--xz"},
		{"zst", "zstd", []string{"-c", "-q", "-19"}, "--zstd"},
		{"bz2", "bzip2", []string{"-c"}, "--bzip2"},
		{"lz", "lzip", []string{"-c"}, "--lzip"},
	}
	for _, fm := range formats {
		data := raw
		if fm.tool != "" {
			if _, err := exec.LookPath(fm.tool); err != nil {
				continue
			}
			data = compress(b, fm.tool, raw, fm.args...)
		}
		archive := filepath.Join(dir, "a."+fm.name)
		if err := os.WriteFile(archive, data, 0o644); err != nil {
			b.Fatal(err)
		}
		// hbuild and tar alternate within one run, so that a change in
		// the machine's load hits both alike.
		b.Run(fm.name, func(b *testing.B) {
			var hb, peer, hbCPU, peerCPU time.Duration
			for i := 0; i < b.N; i++ {
				dest := filepath.Join(dir, "out")
				t0, c0 := time.Now(), cpuTime()
				if err := Unpack(archive, dest, UnpackOptions{}); err != nil {
					b.Fatal(err)
				}
				hb += time.Since(t0)
				hbCPU += cpuTime() - c0
				os.RemoveAll(dest)
				os.MkdirAll(dest, 0o755)
				args := []string{"-xf", archive, "-C", dest}
				if fm.tarFlag != "" {
					args = append(args, fm.tarFlag)
				}
				t0, c0 = time.Now(), cpuTime()
				if out, err := exec.Command("tar", args...).CombinedOutput(); err != nil {
					b.Fatalf("tar: %v %s", err, out)
				}
				peer += time.Since(t0)
				peerCPU += cpuTime() - c0
				os.RemoveAll(dest)
			}
			b.ReportMetric(float64(hb.Microseconds())/1e3/float64(b.N), "hbuild-ms")
			b.ReportMetric(float64(peer.Microseconds())/1e3/float64(b.N), "tar-ms")
			b.ReportMetric(float64(hbCPU.Microseconds())/1e3/float64(b.N), "hbuild-cpu-ms")
			b.ReportMetric(float64(peerCPU.Microseconds())/1e3/float64(b.N), "tar-cpu-ms")
			b.ReportMetric(float64(len(raw))/1e6, "MB")
		})
	}
}

// BenchmarkFetchGit fetches a pinned commit of a local repository into an
// empty cache, its tree written to a directory on the way, against git clone --depth 1 of the
// same commit. HBUILD_BENCH_GIT names the repository (default: this one).
func BenchmarkFetchGit(b *testing.B) {
	repo := os.Getenv("HBUILD_BENCH_GIT")
	if repo == "" {
		out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
		if err != nil {
			b.Skip("not in a git checkout and HBUILD_BENCH_GIT unset")
		}
		repo = strings.TrimSpace(string(out))
	}
	out, err := exec.Command("git", "-C", repo, "rev-parse", "--verify", "HEAD^{commit}").Output()
	if err != nil {
		b.Fatal(err)
	}
	commit := strings.TrimSpace(string(out))
	url := "file://" + repo
	var hb, peer, hbCPU, peerCPU time.Duration
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		c, err := OpenCAS(filepath.Join(dir, "blobs"))
		if err != nil {
			b.Fatal(err)
		}
		f := &Fetcher{CAS: c}
		t0, c0 := time.Now(), cpuTime()
		if _, err := f.FetchGit(context.Background(), url, commit, GitOptions{Dest: filepath.Join(dir, "tree")}); err != nil {
			b.Fatal(err)
		}
		hb += time.Since(t0)
		hbCPU += cpuTime() - c0

		tree := filepath.Join(dir, "clone")
		t0, c0 = time.Now(), cpuTime()
		for _, args := range [][]string{
			{"init", "-q", tree},
			{"-C", tree, "fetch", "-q", "--depth", "1", url, commit},
			{"-C", tree, "checkout", "-q", commit},
		} {
			if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
				b.Fatalf("git %v: %v %s", args, err, out)
			}
		}
		peer += time.Since(t0)
		peerCPU += cpuTime() - c0
	}
	b.ReportMetric(float64(hb.Microseconds())/1e3/float64(b.N), "hbuild-ms")
	b.ReportMetric(float64(peer.Microseconds())/1e3/float64(b.N), "git-ms")
	b.ReportMetric(float64(hbCPU.Microseconds())/1e3/float64(b.N), "hbuild-cpu-ms")
	b.ReportMetric(float64(peerCPU.Microseconds())/1e3/float64(b.N), "git-cpu-ms")
}
