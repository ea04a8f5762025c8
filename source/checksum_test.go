package source

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"strings"
	"testing"
)

// digests returns the checksums of data in every algorithm.
func digests(data []byte) map[string]Checksum {
	m5 := md5.Sum(data)
	s1 := sha1.Sum(data)
	s256 := sha256.Sum256(data)
	s512 := sha512.Sum512(data)
	return map[string]Checksum{
		"md5":    {"md5", hex.EncodeToString(m5[:])},
		"sha1":   {"sha1", hex.EncodeToString(s1[:])},
		"sha256": {"sha256", hex.EncodeToString(s256[:])},
		"sha512": {"sha512", hex.EncodeToString(s512[:])},
	}
}

func TestParseChecksum(t *testing.T) {
	d := digests([]byte("x"))
	cases := []struct {
		algo, hex string
		want      Checksum
		err       string
	}{
		{"md5", d["md5"].Hex, d["md5"], ""},
		{"md5sum", " " + strings.ToUpper(d["md5"].Hex) + " ", d["md5"], ""},
		{"SHA256", d["sha256"].Hex, d["sha256"], ""},
		{"sha512sum", d["sha512"].Hex, d["sha512"], ""},
		{"sha1", d["sha1"].Hex, d["sha1"], ""},
		{"md5", d["sha1"].Hex, Checksum{}, "has 40 hex digits, want 32"},
		{"md5", strings.Repeat("g", 32), Checksum{}, "not hexadecimal"},
		{"crc32", "00000000", Checksum{}, "unknown algorithm"},
	}
	for _, tc := range cases {
		t.Run(tc.algo+"/"+tc.hex, func(t *testing.T) {
			got, err := ParseChecksum(tc.algo, tc.hex)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestSplitURL(t *testing.T) {
	d := digests([]byte("x"))
	cases := []struct {
		in, url string
		sums    []Checksum
		err     string
	}{
		{"http://h/a.tar.gz", "http://h/a.tar.gz", nil, ""},
		{"http://h/a.tar.gz#md5=" + d["md5"].Hex, "http://h/a.tar.gz", []Checksum{d["md5"]}, ""},
		{"http://h/a.tar.gz#sha256=" + d["sha256"].Hex, "http://h/a.tar.gz", []Checksum{d["sha256"]}, ""},
		{"/p/fix.patch#" + d["md5"].Hex, "/p/fix.patch", []Checksum{d["md5"]}, ""},
		{"/p/fix.patch#sha512:" + d["sha512"].Hex, "/p/fix.patch", []Checksum{d["sha512"]}, ""},
		{"http://h/page#section", "http://h/page#section", nil, ""},
		{"http://h/a#md5=abc", "", nil, "has 3 hex digits"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			u, sums, err := SplitURL(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || u != tc.url || len(sums) != len(tc.sums) || (len(sums) == 1 && sums[0] != tc.sums[0]) {
				t.Fatalf("got %q %v %v, want %q %v", u, sums, err, tc.url, tc.sums)
			}
		})
	}
}

func TestChecksumsFromOptions(t *testing.T) {
	d := digests([]byte("x"))
	opts := map[string]string{"md5sum": d["md5"].Hex, "sha256": d["sha256"].Hex, "sha512": "", "url": "http://h/x"}
	get := func(o string) (string, bool) { v, ok := opts[o]; return v, ok }
	sums, err := ChecksumsFromOptions(get)
	if err != nil || len(sums) != 2 || sums[0] != d["md5"] || sums[1] != d["sha256"] {
		t.Fatalf("got %v %v", sums, err)
	}
	opts["sha256sum"] = d["sha256"].Hex // same digest twice: fine
	if sums, err = ChecksumsFromOptions(get); err != nil || len(sums) != 2 {
		t.Fatalf("duplicate: %v %v", sums, err)
	}
	opts["sha256sum"] = digests([]byte("y"))["sha256"].Hex
	if _, err = ChecksumsFromOptions(get); err == nil || !strings.Contains(err.Error(), "two different sha256 digests") {
		t.Fatalf("conflict: err = %v", err)
	}
	opts["md5sum"] = "nope"
	if _, err = ChecksumsFromOptions(get); err == nil || !strings.Contains(err.Error(), "option md5sum") {
		t.Fatalf("bad md5sum: err = %v", err)
	}
}
