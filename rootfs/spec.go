package rootfs

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// Spec is a Debian base as a profile section describes it (recipe
// debian-rootfs):
//
//	[toolchain]
//	recipe = debian-rootfs
//	packages = libc6-dev gcc g++ make ...
//	mirror = http://...      (optional; default: the host's apt sources)
//	suite = bookworm bookworm-updates   (optional)
//	keyring = /path/to/keyring.gpg      (optional)
//	lock = toolchain.lock               (optional; default SECTION.lock next to the profile)
type Spec struct {
	Name     string
	Packages []string
	Lock     string // absolute path of the lock file
	Mirror   string
	Suites   []string
	Keyring  string
	// Compression of the layer when Options leave it empty ("" = gzip).
	Compression string
}

// SpecFromOptions reads a debian-rootfs section's options; dir is the
// directory relative paths are taken from (the profile's).
func SpecFromOptions(section string, opts map[string]string, dir string) (*Spec, error) {
	s := &Spec{Name: section, Packages: strings.Fields(opts["packages"]), Mirror: strings.TrimSpace(opts["mirror"]),
		Suites: strings.Fields(opts["suite"]), Keyring: strings.TrimSpace(opts["keyring"])}
	if len(s.Packages) == 0 {
		return nil, fmt.Errorf("%s: packages: list the Debian packages of the base (e.g. packages = libc6 libgcc-s1)", section)
	}
	for _, p := range s.Packages {
		if strings.ContainsAny(p, "/,()|") {
			return nil, fmt.Errorf("%s: packages: %q is not a package name (write NAME or NAME=VERSION, separated by spaces)", section, p)
		}
	}
	s.Lock = strings.TrimSpace(opts["lock"])
	if s.Lock == "" {
		s.Lock = section + ".lock"
	}
	if !filepath.IsAbs(s.Lock) {
		s.Lock = filepath.Join(dir, s.Lock)
	}
	if s.Keyring != "" && !filepath.IsAbs(s.Keyring) {
		s.Keyring = filepath.Join(dir, s.Keyring)
	}
	return s, nil
}

// Options returns opts with the spec's archive settings applied.
func (s *Spec) Options(opts Options) Options {
	if s.Mirror != "" {
		opts.Mirror = s.Mirror
	}
	if len(s.Suites) > 0 {
		opts.Suites = s.Suites
	}
	if s.Keyring != "" {
		opts.Keyring = s.Keyring
	}
	if opts.Compression == "" {
		opts.Compression = s.Compression
	}
	return opts
}

// Build makes (or reuses) the base, locking it first when its lock file is
// missing or was made for other packages.
func (s *Spec) Build(ctx context.Context, opts Options) (*Base, error) {
	b, err := Build(ctx, s.Packages, s.Lock, s.Options(opts))
	if err != nil {
		return nil, fmt.Errorf("make base %s: %w", s.Name, err)
	}
	b.Name = s.Name
	return b, nil
}

// Builtin returns the spec of a built-in base ("toolchain" or "glibc"),
// whose lock lives in opts.LockDir (default: the cache).
func Builtin(name string, opts Options) (*Spec, bool) {
	s := &Spec{Name: name, Lock: filepath.Join(opts.lockDir(), name+".lock")}
	switch name {
	case "toolchain":
		s.Packages, s.Compression = ToolchainPackages, "zstd"
	case "glibc":
		s.Packages = GlibcPackages
	default:
		return nil, false
	}
	return s, true
}
