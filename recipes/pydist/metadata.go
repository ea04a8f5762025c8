package pydist

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ulikunitz/xz"
)

// Bounds on hostile archives.
const (
	maxMetaFile    = 16 << 20 // bytes of one metadata file
	maxEntries     = 1 << 20  // members of an archive
	maxTarScanned  = 8 << 30  // decompressed bytes of a tar stream
	maxMetaEntries = 1 << 16  // header lines or requirement lines
)

// Metadata is what a distribution archive says about itself.
type Metadata struct {
	Name, Version string
	// Requires are the Requires-Dist lines (wheel METADATA, sdist PKG-INFO)
	// or, for setuptools sdists without them, *.egg-info/requires.txt,
	// where a "[extra]" section becomes the marker `extra == "extra"` and
	// "[extra:marker]" / "[:marker]" sections combine with "and".
	Requires []Requirement
	// EntryPoints maps group -> name -> "module:attr" (extras dropped).
	EntryPoints map[string]map[string]string
	// RequiresPython is the Requires-Python specifier, "" = any.
	RequiresPython string
	HasSetupPy     bool   // sdist only: a setup.py at the top of the archive
	TopDir         string // sdist only: the single top-level directory
}

// Applicable returns the requirements of m that apply in env with the given
// extras requested.
func (m *Metadata) Applicable(env map[string]string, extras []string) ([]Requirement, error) {
	var out []Requirement
	for _, r := range m.Requires {
		if r.Marker != "" {
			ok, err := EvalMarker(r.Marker, env, extras)
			if err != nil {
				return nil, fmt.Errorf("select requirements of %s %s: %w", m.Name, m.Version, err)
			}
			if !ok {
				continue
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// archiveFiles are the members of an archive that ReadMetadata looks at,
// by cleaned path, plus the archive's layout.
type archiveFiles struct {
	files   map[string][]byte
	tops    map[string]bool // top-level names
	topDir  map[string]bool // top-level names seen as directories
	setupPy map[string]bool // TOP/setup.py regular files
}

func newArchiveFiles() *archiveFiles {
	return &archiveFiles{files: map[string][]byte{}, tops: map[string]bool{}, topDir: map[string]bool{}, setupPy: map[string]bool{}}
}

// wanted says whether member p (cleaned, relative) is a metadata file.
func wanted(p string) bool {
	parts := strings.Split(p, "/")
	base := parts[len(parts)-1]
	dir := ""
	if len(parts) >= 2 {
		dir = parts[len(parts)-2]
	}
	switch {
	case len(parts) == 2 && strings.HasSuffix(parts[0], ".dist-info"):
		return base == "METADATA" || base == "entry_points.txt"
	case len(parts) == 2 && base == "PKG-INFO":
		return true
	case (len(parts) == 3 || len(parts) == 4 && parts[1] == "src") && strings.HasSuffix(dir, ".egg-info"):
		return base == "PKG-INFO" || base == "requires.txt" || base == "entry_points.txt"
	}
	return false
}

func cleanMember(name string) string {
	name = strings.TrimLeft(strings.ReplaceAll(name, "\\", "/"), "/")
	name = path.Clean(name)
	if name == "." || name == ".." || strings.HasPrefix(name, "../") {
		return ""
	}
	return name
}

// add records member name. isDir says it is a directory; open is nil for
// members that are neither files nor directories (links, devices): they
// shape the layout but are never read.
func (a *archiveFiles) add(name string, isDir bool, open func() (io.Reader, error)) error {
	p := cleanMember(name)
	if p == "" {
		return nil
	}
	top, _, nested := strings.Cut(p, "/")
	a.tops[top] = true
	if nested || isDir {
		a.topDir[top] = true
	}
	if isDir || open == nil {
		return nil
	}
	if strings.Count(p, "/") == 1 && path.Base(p) == "setup.py" {
		a.setupPy[p] = true
	}
	if !wanted(p) {
		return nil
	}
	r, err := open()
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxMetaFile+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxMetaFile {
		return fmt.Errorf("read %s: larger than %d bytes", name, maxMetaFile)
	}
	a.files[p] = data
	return nil
}

func readZip(file string, a *archiveFiles) error {
	zr, err := zip.OpenReader(file)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return err
	}
	defer zr.Close()
	if len(zr.File) > maxEntries {
		return fmt.Errorf("more than %d members", maxEntries)
	}
	for _, f := range zr.File {
		err := a.add(f.Name, f.FileInfo().IsDir(), func() (io.Reader, error) {
			rc, err := f.Open()
			if err != nil {
				return nil, err
			}
			data, err := io.ReadAll(io.LimitReader(rc, maxMetaFile+1))
			if cerr := rc.Close(); err == nil {
				err = cerr
			}
			return bytes.NewReader(data), err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// countingReader fails once more than limit bytes were read.
type countingReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		return n, fmt.Errorf("more than %d bytes decompressed", c.limit)
	}
	return n, err
}

func readTar(file, ext string, a *archiveFiles) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	switch ext {
	case ".tar.gz", ".tgz":
		gz, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		defer gz.Close()
		r = gz
	case ".tar.bz2":
		r = bzip2.NewReader(r)
	case ".tar.xz":
		xr, err := xz.NewReader(r)
		if err != nil {
			return err
		}
		r = xr
	}
	tr := tar.NewReader(&countingReader{r: r, limit: maxTarScanned})
	for n := 0; ; n++ {
		if n > maxEntries {
			return fmt.Errorf("more than %d members", maxEntries)
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return err
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeDir:
		default:
			// Links and devices carry no metadata; their names still
			// shape the layout.
			if err := a.add(h.Name, false, nil); err != nil {
				return err
			}
			continue
		}
		if err := a.add(h.Name, h.Typeflag == tar.TypeDir, func() (io.Reader, error) { return tr, nil }); err != nil {
			return err
		}
	}
}

// ReadMetadata reads the metadata of a wheel (.whl) or a source
// distribution (.tar.gz .tgz .tar.bz2 .tar.xz .zip) at path. For sdists
// it prefers the PKG-INFO's Requires-Dist and falls back to the egg-info's
// requires.txt; Name and Version fall back to the file name.
func ReadMetadata(file string) (*Metadata, error) {
	return ReadMetadataAs(file, filepath.Base(file))
}

// ReadMetadataAs is ReadMetadata for a file stored under another name (a
// download cache names files by digest): name is the distribution's file
// name, which says its format, project and version.
func ReadMetadataAs(file, name string) (*Metadata, error) {
	m, err := readMetadata(file, name)
	if err != nil {
		return nil, fmt.Errorf("read metadata of %s: %w", name, err)
	}
	return m, nil
}

func readMetadata(file, base string) (*Metadata, error) {
	a := newArchiveFiles()
	wheel := strings.HasSuffix(strings.ToLower(base), ".whl")
	ext := strings.ToLower(sdistExt(base))
	var err error
	switch {
	case wheel || ext == ".zip":
		err = readZip(file, a)
	case ext != "":
		err = readTar(file, ext, a)
	default:
		return nil, fmt.Errorf("not a wheel or an sdist (.whl .tar.gz .tgz .tar.bz2 .tar.xz .zip)")
	}
	if err != nil {
		return nil, err
	}
	fn, _ := ParseFilename(base)
	if wheel {
		return a.wheelMetadata(fn)
	}
	return a.sdistMetadata(fn)
}

// find returns the paths in a.files that satisfy keep, sorted.
func (a *archiveFiles) find(keep func(string) bool) []string {
	var out []string
	for p := range a.files {
		if keep(p) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func (a *archiveFiles) wheelMetadata(fn File) (*Metadata, error) {
	metas := a.find(func(p string) bool { return strings.HasSuffix(p, ".dist-info/METADATA") })
	if len(metas) == 0 {
		return nil, fmt.Errorf("no *.dist-info/METADATA in the wheel")
	}
	meta := metas[0]
	if len(metas) > 1 {
		// Pick the .dist-info of the project the file name names.
		want := Normalize(fn.Project + "-" + fn.Version)
		for _, p := range metas {
			if Normalize(strings.TrimSuffix(path.Dir(p), ".dist-info")) == want {
				meta = p
			}
		}
	}
	m := &Metadata{}
	if err := m.readHeaders(meta, a.files[meta]); err != nil {
		return nil, err
	}
	ep := path.Join(path.Dir(meta), "entry_points.txt")
	if data, ok := a.files[ep]; ok {
		eps, err := parseEntryPoints(data)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", ep, err)
		}
		m.EntryPoints = eps
	}
	if m.Name == "" || m.Version == "" {
		return nil, fmt.Errorf("%s has no Name or Version", meta)
	}
	return m, nil
}

func (a *archiveFiles) sdistMetadata(fn File) (*Metadata, error) {
	m := &Metadata{Name: fn.Project, Version: fn.Version}
	var top string
	if len(a.tops) == 1 {
		for t := range a.tops {
			if a.topDir[t] {
				top, m.TopDir = t, t
			}
		}
	}
	prefix := ""
	if top != "" {
		prefix = top + "/"
		m.HasSetupPy = a.setupPy[prefix+"setup.py"]
	}
	// The egg-info directory: top-level or under src/, the one of the
	// project when there are several.
	eggs := map[string]bool{}
	for p := range a.files {
		if d := path.Dir(p); strings.HasSuffix(d, ".egg-info") && strings.HasPrefix(p, prefix) {
			eggs[d] = true
		}
	}
	var egg string
	var eggList []string
	for d := range eggs {
		eggList = append(eggList, d)
	}
	sort.Strings(eggList)
	for _, d := range eggList {
		if egg == "" || Normalize(strings.TrimSuffix(path.Base(d), ".egg-info")) == Normalize(fn.Project) {
			egg = d
		}
	}
	pkgInfo := prefix + "PKG-INFO"
	data, ok := a.files[pkgInfo]
	if !ok && egg != "" {
		pkgInfo = egg + "/PKG-INFO"
		data, ok = a.files[pkgInfo]
	}
	if ok {
		if err := m.readHeaders(pkgInfo, data); err != nil {
			return nil, err
		}
	}
	hasDist := len(m.Requires) > 0
	if egg != "" {
		if data, ok := a.files[egg+"/requires.txt"]; ok && !hasDist {
			reqs, err := parseRequiresTxt(data)
			if err != nil {
				return nil, fmt.Errorf("parse %s: %w", egg+"/requires.txt", err)
			}
			m.Requires = reqs
		}
		if data, ok := a.files[egg+"/entry_points.txt"]; ok {
			eps, err := parseEntryPoints(data)
			if err != nil {
				return nil, fmt.Errorf("parse %s: %w", egg+"/entry_points.txt", err)
			}
			m.EntryPoints = eps
		}
	}
	return m, nil
}

// readHeaders reads the RFC 822 style header block of METADATA / PKG-INFO.
func (m *Metadata) readHeaders(name string, data []byte) error {
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	var headers [][2]string
	for i, l := range lines {
		if l == "" || i > maxMetaEntries {
			break
		}
		if (l[0] == ' ' || l[0] == '\t') && len(headers) > 0 {
			headers[len(headers)-1][1] += "\n" + l
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("parse %s: line %d: expected \"Header: value\", found %q", name, i+1, l)
		}
		headers = append(headers, [2]string{strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)})
	}
	for _, h := range headers {
		switch h[0] {
		case "name":
			m.Name = h[1]
		case "version":
			m.Version = h[1]
		case "requires-python":
			m.RequiresPython = h[1]
		case "requires-dist":
			r, err := ParseRequirement(h[1])
			if err != nil {
				return fmt.Errorf("parse %s: %w", name, err)
			}
			m.Requires = append(m.Requires, r)
		}
	}
	return nil
}

// parseRequiresTxt reads setuptools' egg-info requires.txt: requirement
// lines, grouped in "[extra]", "[extra:marker]" or "[:marker]" sections.
func parseRequiresTxt(data []byte) ([]Requirement, error) {
	var out []Requirement
	section := ""
	for i, l := range strings.Split(string(data), "\n") {
		if i > maxMetaEntries {
			return nil, fmt.Errorf("more than %d lines", maxMetaEntries)
		}
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "[") {
			if !strings.HasSuffix(l, "]") {
				return nil, fmt.Errorf("line %d: expected \"[section]\", found %q", i+1, l)
			}
			extra, marker, _ := strings.Cut(strings.TrimSpace(l[1:len(l)-1]), ":")
			extra, marker = strings.TrimSpace(extra), strings.TrimSpace(marker)
			var parts []string
			if marker != "" {
				if _, err := parseMarker(marker); err != nil {
					return nil, fmt.Errorf("line %d: %w", i+1, err)
				}
				parts = append(parts, marker)
			}
			if extra != "" {
				if !validName(extra) {
					return nil, fmt.Errorf("line %d: invalid extra name %q", i+1, extra)
				}
				parts = append(parts, `extra == "`+extra+`"`)
			}
			section = joinMarkers(parts...)
			continue
		}
		r, err := ParseRequirement(l)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		r.Marker = joinMarkers(r.Marker, section)
		out = append(out, r)
	}
	return out, nil
}

// joinMarkers combines markers with "and", each in parentheses so that an
// "or" inside one stays inside; empty ones are skipped.
func joinMarkers(markers ...string) string {
	var parts []string
	for _, m := range markers {
		if m != "" {
			parts = append(parts, m)
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	for i, p := range parts {
		parts[i] = "(" + p + ")"
	}
	return strings.Join(parts, " and ")
}

// parseEntryPoints reads an entry_points.txt: "[group]" sections of
// "name = module:attr [extras]" lines.
func parseEntryPoints(data []byte) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	group := ""
	for i, l := range strings.Split(string(data), "\n") {
		if i > maxMetaEntries {
			return nil, fmt.Errorf("more than %d lines", maxMetaEntries)
		}
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		if l[0] == '[' {
			if !strings.HasSuffix(l, "]") {
				return nil, fmt.Errorf("line %d: expected \"[group]\", found %q", i+1, l)
			}
			group = strings.TrimSpace(l[1 : len(l)-1])
			if out[group] == nil {
				out[group] = map[string]string{}
			}
			continue
		}
		name, value, ok := strings.Cut(l, "=")
		if !ok || group == "" {
			return nil, fmt.Errorf("line %d: expected \"name = module:attr\" in a [group], found %q", i+1, l)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if j := strings.IndexByte(value, '['); j >= 0 {
			value = strings.TrimSpace(value[:j])
		}
		if name == "" || value == "" {
			return nil, fmt.Errorf("line %d: expected \"name = module:attr\", found %q", i+1, l)
		}
		out[group][name] = value
	}
	return out, nil
}
