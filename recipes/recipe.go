package recipes

import (
	"fmt"
	"sort"
	"strings"
)

// Context is what a recipe knows besides the part's own options.
type Context struct {
	Part      string            // the section name
	Location  string            // the part's location as seen in the sandbox and the image
	Directory string            // ${buildout:directory}, e.g. /opt/hbuild
	BaseDir   string            // directory of the profile file defining the section; relative paths are taken from it
	Env       map[string]string // the sandbox's base environment, against which %(VAR)s expands
	// Section returns another section's substituted options (environment
	// sections, templates). May be nil when no recipe needs it.
	Section func(name string) (map[string]string, error)
	// Read returns the content of a URL or local file checked against sums
	// (template files). May be nil.
	Read func(url string, sums []Checksum) ([]byte, error)
	// Deps are the parts this part's options reference, sorted.
	Deps []string
	// Fetch gets a file that has no checksum into the download cache and
	// returns its path there and its sha256: a find-links page, or a
	// distribution file find-links name by version (immutable: fetched
	// once). allow-hosts and --offline apply. May be nil (local files only).
	Fetch func(url string, immutable bool) (path, sha256 string, err error)
	// Warn reports something the user should act on (an unpinned version
	// that was picked). May be nil.
	Warn func(msg string)
}

// Checksum is an expected digest of a source.
type Checksum struct {
	Algo string // md5, sha1, sha256, sha512
	Hex  string
}

// DebianSource names a Debian source package whose upstream tarball is the
// source.
type DebianSource struct{ Name, Version string }

// GitSource is a commit of a git repository. The engine fetches it with
// source.Fetcher.FetchGit and keys the part by the full commit hash.
type GitSource struct {
	Repository string
	Revision   string   // a full commit hash (the pin) or a git describe form
	Branch     string   // where the revision is looked for first
	Sparse     []string // sparse-checkout patterns (nil = the whole tree); see SparseKeep
}

// Strip modes for unpacked archives.
const (
	StripAuto  = "auto"  // strip when the archive holds a single directory
	StripTrue  = "true"  // require a single top directory and strip it
	StripFalse = "false" // never strip
)

// Source is one input to fetch.
type Source struct {
	Option     string        // the option that names it (for messages)
	URL        string        // URL or absolute local path (file or directory)
	Alternates []string      // URLs tried when URL fails (alternate-url)
	Debian     *DebianSource // instead of URL
	Git        *GitSource    // instead of URL: a commit of a git repository
	Sums       []Checksum
	Dest       string // absolute path in the sandbox: a file (Unpack false) or a directory
	Unpack     bool
	Strip      string // StripAuto, StripTrue or StripFalse (Unpack only)
}

// File is a file the engine writes before the steps run.
type File struct {
	Path    string // absolute path in the sandbox, under /build or the part's location
	Content []byte
	Mode    uint32
}

// Step is a shell script run with /bin/sh -e in the sandbox.
type Step struct {
	Name   string // configure, make, install, ...
	Script string
}

// Image is what an oci-image part assembles.
type Image struct {
	Parts       []string
	Base        string // a base name: "glibc" (default) or "toolchain"
	Entrypoint  []string
	Cmd         []string
	Env         []string
	WorkDir     string
	User        string
	Labels      map[string]string
	Annotations map[string]string
	Platform    string
	Outputs     []string
}

// Rootfs is what a debian-rootfs part builds.
type Rootfs struct {
	Base     string   // a named base: toolchain or glibc
	Packages []string // extra Debian packages
	Suite    string
}

// Build is a recipe's answer: everything the engine needs to build a part.
type Build struct {
	Sources        []Source
	Files          []File
	Steps          []Step
	WorkDir        string   // where steps run; "" = the first unpacked source (entering its single top directory)
	Env            []string // KEY=VALUE set for every step (overrides the base environment)
	Deps           []string // parts needed besides those the options reference
	Promises       []string // paths that should exist afterwards (warnings only)
	KeepCompileDir bool
	FixShebangs    bool // rewrite over-long #! lines in location/bin and location/sbin
	Image          *Image
	Rootfs         *Rootfs
}

// Recipe is a named way to turn options into a Build.
type Recipe struct {
	Name    string
	Version string // part of every part key: bump when the generated Build changes
	Aliases []string
	Summary string
	Prepare func(ctx *Context, opts map[string]string) (*Build, error)
	// Ignored are options a recipe accepts for compatibility but does not
	// use, each with the note hbuild annotate shows where a profile sets it.
	Ignored map[string]string
}

var registry = map[string]*Recipe{}
var canonical []*Recipe

func register(r *Recipe) {
	canonical = append(canonical, r)
	for _, n := range append([]string{r.Name}, r.Aliases...) {
		if _, dup := registry[n]; dup {
			panic("recipes: duplicate name " + n)
		}
		registry[n] = r
	}
}

// Lookup finds a recipe by name or alias. An unknown name is an error
// listing every recipe.
func Lookup(name string) (*Recipe, error) {
	n := strings.TrimSpace(name)
	if r, ok := registry[n]; ok {
		return r, nil
	}
	// "egg:default" is buildout's spelling of the default entry point.
	if r, ok := registry[strings.TrimSuffix(n, ":default")]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("unknown recipe %q; hbuild has: %s", name, strings.Join(Names(), ", "))
}

// Names lists every recipe name and alias, sorted.
func Names() []string {
	var out []string
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// All returns the recipes (one entry per recipe, not per alias), sorted by name.
func All() []*Recipe {
	out := append([]*Recipe(nil), canonical...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// OptionError is an error about one option of a part.
type OptionError struct {
	Part, Option, Msg string
}

func (e *OptionError) Error() string {
	if e.Option == "" {
		return fmt.Sprintf("%s: %s", e.Part, e.Msg)
	}
	return fmt.Sprintf("%s:%s: %s", e.Part, e.Option, e.Msg)
}

func optErr(ctx *Context, option, format string, args ...any) error {
	return &OptionError{Part: ctx.Part, Option: option, Msg: fmt.Sprintf(format, args...)}
}
