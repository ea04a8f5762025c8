package debian

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"pault.ag/go/debian/version"
)

// Package is one binary package stanza of a Packages index.
type Package struct {
	Name         string
	Version      string
	Architecture string
	Filename     string // relative to the archive root (pool/main/...)
	Size         int64
	SHA256       string
	Depends      string
	PreDepends   string
	Provides     string
	Conflicts    string
	Breaks       string
	Priority     string
	Essential    bool
	MultiArch    string
	Source       string
	Suite        string // the suite whose index listed it

	ver version.Version
}

var packageFields = map[string]bool{
	"Package": true, "Version": true, "Architecture": true, "Filename": true,
	"Size": true, "SHA256": true, "Depends": true, "Pre-Depends": true,
	"Provides": true, "Conflicts": true, "Breaks": true, "Priority": true,
	"Essential": true, "Multi-Arch": true, "Source": true,
}

// ParsePackages reads a Packages index. suite is recorded in each Package.
func ParsePackages(r io.Reader, suite string) ([]*Package, error) {
	var out []*Package
	err := ReadParagraphs(r, packageFields, func(p Paragraph, line int) error {
		pkg, err := packageFromParagraph(p, suite)
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, pkg)
		return nil
	})
	return out, err
}

func packageFromParagraph(p Paragraph, suite string) (*Package, error) {
	pkg := &Package{
		Name: p["Package"], Version: p["Version"], Architecture: p["Architecture"],
		Filename: p["Filename"], SHA256: strings.ToLower(p["SHA256"]),
		Depends: p["Depends"], PreDepends: p["Pre-Depends"], Provides: p["Provides"],
		Conflicts: p["Conflicts"], Breaks: p["Breaks"], Priority: p["Priority"],
		Essential: p["Essential"] == "yes", MultiArch: p["Multi-Arch"], Source: p["Source"],
		Suite: suite,
	}
	if pkg.Name == "" || pkg.Version == "" {
		return nil, fmt.Errorf("package stanza without Package or Version")
	}
	v, err := version.Parse(pkg.Version)
	if err != nil {
		return nil, fmt.Errorf("package %s: version %q: %w", pkg.Name, pkg.Version, err)
	}
	pkg.ver = v
	if s := p["Size"]; s != "" {
		pkg.Size, err = strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("package %s: Size %q: %w", pkg.Name, s, err)
		}
	}
	return pkg, nil
}

// Packages reads and verifies the Packages indices of every component for
// the archive's architecture (arch "all" packages are listed there too).
func (a *Archive) Packages(ctx context.Context) ([]*Package, error) {
	var out []*Package
	for _, comp := range a.opts.Components {
		base := comp + "/binary-" + a.opts.Arch + "/Packages"
		r, err := a.fetchIndex(ctx, base)
		if err != nil {
			return nil, fmt.Errorf("read packages of %s: %w", a.Suite, err)
		}
		pkgs, err := ParsePackages(r, a.Suite)
		cerr := r.Close()
		if err != nil {
			return nil, fmt.Errorf("parse %s/%s: %w", a.Suite, base, err)
		}
		if cerr != nil {
			return nil, fmt.Errorf("read %s/%s: %w", a.Suite, base, cerr)
		}
		// Archives that keep arch:all packages apart list them in binary-all.
		if a.hasIndex(comp+"/binary-all/Packages") && !hasArchAll(pkgs) {
			r, err := a.fetchIndex(ctx, comp+"/binary-all/Packages")
			if err != nil {
				return nil, fmt.Errorf("read packages of %s: %w", a.Suite, err)
			}
			more, err := ParsePackages(r, a.Suite)
			r.Close()
			if err != nil {
				return nil, fmt.Errorf("parse %s/%s/binary-all/Packages: %w", a.Suite, comp, err)
			}
			pkgs = append(pkgs, more...)
		}
		out = append(out, pkgs...)
	}
	return out, nil
}

func (a *Archive) hasIndex(base string) bool {
	for _, ext := range []string{"", ".gz", ".xz", ".zst"} {
		if _, ok := a.Release.Files[base+ext]; ok {
			return true
		}
	}
	return false
}

func hasArchAll(pkgs []*Package) bool {
	for _, p := range pkgs {
		if p.Architecture == "all" {
			return true
		}
	}
	return len(pkgs) == 0
}
