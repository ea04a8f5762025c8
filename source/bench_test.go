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
	"testing"
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
		b.Run(fm.name+"/hbuild", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for i := 0; i < b.N; i++ {
				dest := filepath.Join(dir, "out")
				if err := Unpack(archive, dest, UnpackOptions{}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.RemoveAll(dest)
				b.StartTimer()
			}
		})
		b.Run(fm.name+"/tar", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for i := 0; i < b.N; i++ {
				dest := filepath.Join(dir, "out")
				os.MkdirAll(dest, 0o755)
				args := []string{"-xf", archive, "-C", dest}
				if fm.tarFlag != "" {
					args = append(args, fm.tarFlag)
				}
				if out, err := exec.Command("tar", args...).CombinedOutput(); err != nil {
					b.Fatalf("tar: %v %s", err, out)
				}
				b.StopTimer()
				os.RemoveAll(dest)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkFetchGit fetches a pinned commit of a local repository into an
// empty cache and unpacks its tree, against git clone --depth 1 of the
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
	out, err := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output()
	if err != nil {
		b.Fatal(err)
	}
	commit := strings.TrimSpace(string(out))
	url := "file://" + repo
	b.Run("hbuild", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dir := b.TempDir()
			c, err := OpenCAS(filepath.Join(dir, "blobs"))
			if err != nil {
				b.Fatal(err)
			}
			f := &Fetcher{CAS: c}
			b.StartTimer()
			g, err := f.FetchGit(context.Background(), url, commit, GitOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if err := Unpack(g.Path, filepath.Join(dir, "tree"), UnpackOptions{Name: "x.tar"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("git", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dir := b.TempDir()
			b.StartTimer()
			tree := filepath.Join(dir, "tree")
			if err := exec.Command("git", "init", "-q", tree).Run(); err != nil {
				b.Fatal(err)
			}
			if out, err := exec.Command("git", "-C", tree, "fetch", "-q", "--depth", "1", url, commit).CombinedOutput(); err != nil {
				b.Fatalf("%v %s", err, out)
			}
			if out, err := exec.Command("git", "-C", tree, "checkout", "-q", commit).CombinedOutput(); err != nil {
				b.Fatalf("%v %s", err, out)
			}
		}
	})
}
