package source

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestCASPut(t *testing.T) {
	c, err := OpenCAS(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("some source")
	want := digests(data)["sha256"].Hex
	if c.Has(want) {
		t.Fatal("Has before Put")
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.Put(bytes.NewReader(data))
			if err == nil && got != want {
				err = fmt.Errorf("Put = %s, want %s", got, want)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !c.Has(want) || c.Path(want) != filepath.Join(c.Dir(), "sha256", want) {
		t.Fatalf("blob not at %s", c.Path(want))
	}
	if b, _ := os.ReadFile(c.Path(want)); !bytes.Equal(b, data) {
		t.Fatalf("blob content %q", b)
	}
	if ents, _ := os.ReadDir(filepath.Join(c.Dir(), "tmp")); len(ents) != 0 {
		t.Fatalf("temporary files left: %v", ents)
	}
	for _, bad := range []string{"", "../x", strings.Repeat("A", 64)} {
		if c.Has(bad) {
			t.Errorf("Has(%q) = true", bad)
		}
	}
}

func TestCASIndex(t *testing.T) {
	c, err := OpenCAS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("indexed")
	d := digests(data)
	if _, ok := c.Lookup(d["md5"]); ok {
		t.Fatal("Lookup before Record")
	}
	// An index entry whose blob is missing is a miss.
	if err := c.Record(d["md5"], d["sha256"].Hex); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Lookup(d["md5"]); ok {
		t.Fatal("Lookup hit without the blob")
	}
	if _, err := c.Put(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	for _, algo := range []string{"md5", "sha256"} {
		if h, ok := c.Lookup(d[algo]); !ok || h != d["sha256"].Hex {
			t.Errorf("Lookup(%s) = %s %v", algo, h, ok)
		}
	}
	if err := c.RecordKey("url", "../../x", d["sha256"].Hex); err == nil {
		t.Error("RecordKey accepted a path as key")
	}
	if err := c.RecordKey("Bad/kind", "ab", d["sha256"].Hex); err == nil {
		t.Error("RecordKey accepted a bad kind")
	}
	if err := c.RecordKey("url", "ab", "xyz"); err == nil {
		t.Error("RecordKey accepted a bad sha256")
	}
}
