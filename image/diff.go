package image

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Difference is one path whose entry differs between two layers, for
// reproducibility checks.
type Difference struct {
	Path string
	// What differs: "only in a", "only in b", or some of "type", "content",
	// "mode", "mtime", "link", "owner", "xattrs", in that order.
	What []string
	A, B string // the entry in each layer, described briefly ("" if absent)
}

func (d Difference) String() string {
	return fmt.Sprintf("%s: %s (a: %s; b: %s)", d.Path, strings.Join(d.What, ", "), orDash(d.A), orDash(d.B))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type entrySummary struct {
	typ      byte
	mode     int64
	uid, gid int
	mtime    time.Time
	size     int64
	link     string
	sum      string
	xattrs   string
}

func (e *entrySummary) String() string {
	s := fmt.Sprintf("%c %04o %d:%d %s", e.typ, e.mode, e.uid, e.gid, e.mtime.UTC().Format(time.RFC3339))
	switch {
	case e.link != "":
		s += " -> " + e.link
	case e.typ == tar.TypeReg:
		s += fmt.Sprintf(" %d bytes sha256:%.12s", e.size, e.sum)
	}
	return s
}

func summarize(l v1.Layer) (map[string]*entrySummary, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	out := map[string]*entrySummary{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		e := &entrySummary{typ: h.Typeflag, mode: h.Mode, uid: h.Uid, gid: h.Gid, mtime: h.ModTime, size: h.Size, link: h.Linkname}
		if h.Typeflag == tar.TypeReg {
			s := sha256.New()
			if _, err := io.Copy(s, tr); err != nil {
				return nil, err
			}
			e.sum = fmt.Sprintf("%x", s.Sum(nil))
		}
		var xs []string
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				xs = append(xs, k+"="+v)
			}
		}
		sort.Strings(xs)
		e.xattrs = strings.Join(xs, "\x00")
		out[strings.TrimSuffix(h.Name, "/")] = e
	}
}

// DiffLayers compares two layers entry by entry and returns the paths that
// differ, sorted. Equal layers give none.
func DiffLayers(a, b v1.Layer) ([]Difference, error) {
	ea, err := summarize(a)
	if err != nil {
		return nil, fmt.Errorf("compare layers: read a: %w", err)
	}
	eb, err := summarize(b)
	if err != nil {
		return nil, fmt.Errorf("compare layers: read b: %w", err)
	}
	paths := map[string]bool{}
	for p := range ea {
		paths[p] = true
	}
	for p := range eb {
		paths[p] = true
	}
	var out []Difference
	for _, p := range sortedSet(paths) {
		x, y := ea[p], eb[p]
		var what []string
		switch {
		case y == nil:
			what = []string{"only in a"}
		case x == nil:
			what = []string{"only in b"}
		default:
			if x.typ != y.typ {
				what = append(what, "type")
			}
			if x.sum != y.sum || x.size != y.size {
				what = append(what, "content")
			}
			if x.mode != y.mode {
				what = append(what, "mode")
			}
			if !x.mtime.Equal(y.mtime) {
				what = append(what, "mtime")
			}
			if x.link != y.link {
				what = append(what, "link")
			}
			if x.uid != y.uid || x.gid != y.gid {
				what = append(what, "owner")
			}
			if x.xattrs != y.xattrs {
				what = append(what, "xattrs")
			}
		}
		if len(what) == 0 {
			continue
		}
		d := Difference{Path: p, What: what}
		if x != nil {
			d.A = x.String()
		}
		if y != nil {
			d.B = y.String()
		}
		out = append(out, d)
	}
	return out, nil
}

func sortedSet(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
