package debian

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"pault.ag/go/debian/version"
)

// Upstream is a fetched upstream tarball of a Debian source package.
type Upstream struct {
	Path    string // the file in the download cache
	Name    string // its name in the archive (e.g. zlib_1.2.13.dfsg.orig.tar.gz), which tells its format
	SHA256  string
	Size    int64
	Package string
	Version string // the Debian version whose .dsc named it
}

// SourceFile is one file of a source package, as a .dsc or Sources stanza
// lists it.
type SourceFile struct {
	Name   string
	Size   int64
	SHA256 string
}

func parseChecksums(field string) ([]SourceFile, error) {
	var out []SourceFile
	for _, line := range strings.Split(field, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("bad Checksums-Sha256 line %q", line)
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad size in Checksums-Sha256 line %q", line)
		}
		if strings.Contains(f[2], "/") {
			return nil, fmt.Errorf("file name %q has a slash", f[2])
		}
		out = append(out, SourceFile{Name: f[2], Size: size, SHA256: strings.ToLower(f[0])})
	}
	return out, nil
}

// isUpstreamTarball reports whether a source file is the upstream tarball:
// NAME_VERSION.orig.tar.* (or NAME_VERSION.tar.* for native packages).
func isUpstreamTarball(name string) bool {
	if strings.Contains(name, ".orig-") || strings.HasSuffix(name, ".asc") {
		return false
	}
	return strings.Contains(name, ".orig.tar.") || (strings.Contains(name, ".tar.") && !strings.Contains(name, ".debian.tar."))
}

// sourcePin records, in the cache, which verified tarball a source package
// version names, so that a second fetch needs no network.
type sourcePin struct {
	Package, Version, Name, SHA256 string
	Size                           int64
}

func pinPath(cacheDir, name, ver string) string {
	return filepath.Join(cacheDir, "debian", "sources", strings.NewReplacer("/", "_", ":", "_").Replace(name+"_"+ver)+".json")
}

// FetchSource fetches the upstream tarball of source package name at
// version (Debian version, e.g. "1:1.2.13.dfsg-1"; "" = the newest in the
// suites) and returns its path in the download cache. The chain of trust is
// InRelease (signature) -> Sources (SHA-256) -> .dsc (SHA-256) -> tarball
// (SHA-256 from the .dsc).
func FetchSource(ctx context.Context, opts Options, name, version string) (string, error) {
	u, err := FetchUpstream(ctx, opts, name, version)
	if err != nil {
		return "", err
	}
	return u.Path, nil
}

// FetchUpstream is FetchSource with the details of the tarball.
func FetchUpstream(ctx context.Context, opts Options, name, ver string) (*Upstream, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("debian: Options.CacheDir is required")
	}
	if ver != "" {
		if data, err := os.ReadFile(pinPath(opts.CacheDir, name, ver)); err == nil {
			var pin sourcePin
			if json.Unmarshal(data, &pin) == nil && haveBlob(opts.CacheDir, pin.SHA256, pin.Size) {
				return &Upstream{Path: blobPath(opts.CacheDir, pin.SHA256), Name: pin.Name, SHA256: pin.SHA256, Size: pin.Size, Package: pin.Package, Version: pin.Version}, nil
			}
		}
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var (
		best      Paragraph
		bestVer   version.Version
		bestSuite string
		seen      []string
	)
	for _, suite := range o.Suites {
		a, err := Open(ctx, o.Mirror, suite, o)
		if err != nil {
			return nil, err
		}
		for _, comp := range o.Components {
			r, err := a.fetchIndex(ctx, comp+"/source/Sources")
			if err != nil {
				return nil, fmt.Errorf("fetch source %s: %w", name, err)
			}
			fields := map[string]bool{"Package": true, "Version": true, "Directory": true, "Checksums-Sha256": true}
			err = ReadParagraphs(r, fields, func(p Paragraph, _ int) error {
				if p["Package"] != name {
					return nil
				}
				v, err := version.Parse(p["Version"])
				if err != nil {
					return nil
				}
				seen = append(seen, p["Version"]+" ("+suite+")")
				if ver != "" && p["Version"] != ver {
					return nil
				}
				if best == nil || version.Compare(v, bestVer) > 0 {
					best, bestVer, bestSuite = p, v, suite
				}
				return nil
			})
			r.Close()
			if err != nil {
				return nil, fmt.Errorf("read %s/%s/source/Sources: %w", suite, comp, err)
			}
		}
	}
	if best == nil {
		if len(seen) > 0 {
			return nil, fmt.Errorf("fetch source %s %s: not in %s; the archive has %s", name, ver, strings.Join(o.Suites, ", "), strings.Join(seen, ", "))
		}
		return nil, fmt.Errorf("fetch source %s: no such source package in %s", name, strings.Join(o.Suites, ", "))
	}
	files, err := parseChecksums(best["Checksums-Sha256"])
	if err != nil {
		return nil, fmt.Errorf("fetch source %s: Sources index (%s): %w", name, bestSuite, err)
	}
	dir := best["Directory"]
	if dir == "" || strings.HasPrefix(dir, "/") || strings.Contains("/"+dir+"/", "/../") {
		return nil, fmt.Errorf("fetch source %s: bad Directory %q", name, dir)
	}
	var dscFile *SourceFile
	for i := range files {
		if strings.HasSuffix(files[i].Name, ".dsc") {
			dscFile = &files[i]
		}
	}
	if dscFile == nil {
		return nil, fmt.Errorf("fetch source %s %s: the Sources index lists no .dsc", name, best["Version"])
	}
	dscPath, err := o.fetchBlob(ctx, o.Mirror+"/"+path.Join(dir, dscFile.Name), dscFile.Name, dscFile.SHA256, dscFile.Size)
	if err != nil {
		return nil, fmt.Errorf("fetch source %s: %w", name, err)
	}
	f, err := os.Open(dscPath)
	if err != nil {
		return nil, err
	}
	text, err := stripClearsign(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("fetch source %s: read %s: %w", name, dscFile.Name, err)
	}
	var dsc Paragraph
	err = ReadParagraphs(text, nil, func(p Paragraph, _ int) error {
		if dsc == nil {
			dsc = p
		}
		return nil
	})
	if err != nil || dsc == nil {
		return nil, fmt.Errorf("fetch source %s: parse %s: %v", name, dscFile.Name, err)
	}
	dfiles, err := parseChecksums(dsc.Get("Checksums-Sha256"))
	if err != nil {
		return nil, fmt.Errorf("fetch source %s: %s: %w", name, dscFile.Name, err)
	}
	var up *SourceFile
	for i := range dfiles {
		if isUpstreamTarball(dfiles[i].Name) {
			up = &dfiles[i]
			break
		}
	}
	if up == nil {
		return nil, fmt.Errorf("fetch source %s: %s names no upstream tarball", name, dscFile.Name)
	}
	o.event("fetch %s", up.Name)
	p, err := o.fetchBlob(ctx, o.Mirror+"/"+path.Join(dir, up.Name), up.Name, up.SHA256, up.Size)
	if err != nil {
		return nil, fmt.Errorf("fetch source %s: %w", name, err)
	}
	u := &Upstream{Path: p, Name: up.Name, SHA256: up.SHA256, Size: up.Size, Package: name, Version: best["Version"]}
	if data, err := json.Marshal(sourcePin{Package: name, Version: u.Version, Name: u.Name, SHA256: u.SHA256, Size: u.Size}); err == nil {
		pp := pinPath(o.CacheDir, name, u.Version)
		if os.MkdirAll(filepath.Dir(pp), 0o755) == nil {
			tmp := pp + ".tmp-" + strconv.Itoa(os.Getpid())
			if os.WriteFile(tmp, data, 0o644) == nil {
				_ = os.Rename(tmp, pp)
			}
		}
	}
	return u, nil
}
