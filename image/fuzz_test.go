package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
)

// FuzzExtract feeds arbitrary tar streams to Extract: it may fail, but it
// must never write outside its directory.
func FuzzExtract(f *testing.F) {
	seed := func(hdrs ...*tar.Header) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range hdrs {
			tw.WriteHeader(h)
			if h.Typeflag == tar.TypeReg && h.Size > 0 {
				tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
			}
		}
		tw.Close()
		return buf.Bytes()
	}
	f.Add(seed(&tar.Header{Typeflag: tar.TypeReg, Name: "../x", Size: 1, Mode: 0o644}))
	f.Add(seed(&tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "/"}, &tar.Header{Typeflag: tar.TypeReg, Name: "l/x", Size: 1, Mode: 0o644}))
	f.Add(seed(&tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "../.."}, &tar.Header{Typeflag: tar.TypeDir, Name: "l/d/", Mode: 0o755}))
	f.Add(seed(&tar.Header{Typeflag: tar.TypeLink, Name: "h", Linkname: "../../etc/passwd"}))
	f.Add(seed(&tar.Header{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o755}, &tar.Header{Typeflag: tar.TypeReg, Name: "d/.wh..wh..opq"}, &tar.Header{Typeflag: tar.TypeReg, Name: ".wh.d"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(data)
		zw.Close()
		parent := t.TempDir()
		l := static.NewLayer(gz.Bytes(), MediaTypeGzip)
		img, err := Assemble(nil, []v1.Layer{l}, Config{})
		if err != nil {
			t.Fatal(err)
		}
		root := filepath.Join(parent, "root")
		Extract(img, root) //nolint:errcheck // failing is fine; escaping is not
		ents, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name() != "root" {
				t.Fatalf("extract wrote %s outside its directory", e.Name())
			}
		}
	})
}

// FuzzParseLocation: any string parses or fails cleanly, and a parsed
// location prints as a string that parses back to it.
func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{"oci-layout:out:xml", "docker-archive:x.tar:a/b:c", "docker://localhost:5000/x?insecure", "containerd:///s?namespace=n&name=x", "localhost/x", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLocation(s)
		if err != nil {
			return
		}
		again, err := ParseLocation(l.String())
		if err != nil || *again != *l {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, *l, l.String(), again, err)
		}
	})
}
