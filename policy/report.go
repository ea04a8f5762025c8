package policy

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Report is the result of a check.
type Report struct {
	// Root is the run-time path of the tree checked ("/" for CheckRoot).
	Root string `json:"root"`
	// Files are the ELF executables and shared objects checked, by path.
	Files []FileReport `json:"files"`
	// Violations are the problems found, one per file, library and reason.
	Violations []Violation `json:"violations"`
	// MaxVersions are the highest symbol versions any file needs, per
	// family ("GLIBC", "GLIBCXX", "CXXABI", "GCC").
	MaxVersions map[string]string `json:"max_versions,omitempty"`
	// Scanned counts the regular files looked at, ELF or not; Ignored the
	// files skipped by ignore-paths.
	Scanned int `json:"scanned"`
	Ignored int `json:"ignored"`
	// WarnOnly is the policy's warn-only setting: violations do not fail.
	WarnOnly bool `json:"warn_only,omitempty"`
}

// FileReport is what one ELF file needs and where each need was found.
type FileReport struct {
	// Path is the file's run-time path (Tree.Path joined with its place
	// in the tree).
	Path string `json:"path"`
	// Kind is executable, pie-executable, static-executable or
	// shared-object.
	Kind    string   `json:"kind"`
	Interp  string   `json:"interp,omitempty"`
	Soname  string   `json:"soname,omitempty"`
	RPath   []string `json:"rpath,omitempty"`
	RunPath []string `json:"runpath,omitempty"`
	Needed  []Needed `json:"needed,omitempty"`
	// Versions are the highest symbol versions the file needs, per family.
	Versions map[string]string `json:"versions,omitempty"`
	// Error says why the file could not be read as ELF.
	Error string `json:"error,omitempty"`
}

// Needed is one DT_NEEDED entry and how it resolved.
type Needed struct {
	Name string `json:"name"`
	// Path is where the library was found (run-time path), "" if nowhere
	// or when the built-in glibc list answered.
	Path string `json:"path,omitempty"`
	// From is part, dependency, base, allowed, host or missing.
	From string `json:"from"`
	// Tree is the Path of the dependency tree it was found in.
	Tree string `json:"tree,omitempty"`
	// Via is how it was found: RPATH, RUNPATH, default (the base's library
	// directories), loaded (already loaded under that name), path (the
	// name is a path), glibc (the built-in glibc list) or allow-libs.
	Via string `json:"via,omitempty"`
	// Versions are the symbol versions the file needs from it.
	Versions []string `json:"versions,omitempty"`
}

// Where a library comes from.
const (
	FromPart       = "part"
	FromDependency = "dependency"
	FromBase       = "base"
	FromAllowed    = "allowed"
	FromHost       = "host"
	FromMissing    = "missing"
)

// Violation kinds.
const (
	KindNotFound    = "not-found"    // a needed library is nowhere allowed
	KindHostLibrary = "host-library" // found, but in the base/host and not glibc
	KindRPath       = "rpath"        // an RPATH/RUNPATH entry outside the parts
	KindMaxGlibc    = "max-glibc"    // needs a newer glibc than the policy allows
	KindBadELF      = "bad-elf"      // the file cannot be read as ELF
	KindInterp      = "interpreter"  // the program interpreter is not glibc's
	KindVersion     = "version"      // the library found lacks a symbol version needed
)

// Violation is one problem: a file, the library it needs (if any), why it
// is not allowed and how to fix it.
type Violation struct {
	File   string `json:"file"`
	Needed string `json:"needed,omitempty"`
	Kind   string `json:"kind"`
	Why    string `json:"why"`
	Fix    string `json:"fix,omitempty"`
}

// String is the violation on one line.
func (v Violation) String() string {
	var b strings.Builder
	b.WriteString(v.File)
	if v.Needed != "" {
		b.WriteString(": needs ")
		b.WriteString(v.Needed)
	}
	b.WriteString(": ")
	b.WriteString(v.Why)
	if v.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(v.Fix)
	}
	return b.String()
}

// OK reports whether the tree passes: no violations, or warn-only.
func (r *Report) OK() bool { return len(r.Violations) == 0 || r.WarnOnly }

// Err returns nil when the report has no violations, else an error that
// lists them one per line (also in warn-only mode: the caller decides
// whether to fail, with OK).
func (r *Report) Err() error {
	if len(r.Violations) == 0 {
		return nil
	}
	lines := make([]string, len(r.Violations))
	for i, v := range r.Violations {
		lines[i] = v.String()
	}
	return fmt.Errorf("policy: %d violation(s) in %s:\n%s", len(r.Violations), r.Root, strings.Join(lines, "\n"))
}

// JSON writes the report as indented JSON.
func (r *Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write policy report: %w", err)
	}
	return nil
}

// Text writes the report for people: each file with its needs and where
// they were found, then the violations, one per line, and a summary.
func (r *Report) Text(w io.Writer) error {
	ew := &errWriter{w: w}
	for _, f := range r.Files {
		ew.printf("%s (%s", f.Path, f.Kind)
		if vs := formatVersions(f.Versions); vs != "" {
			ew.printf(", needs %s", vs)
		}
		ew.printf(")\n")
		if f.Error != "" {
			ew.printf("  error: %s\n", f.Error)
		}
		if f.Interp != "" {
			ew.printf("  interpreter %s\n", f.Interp)
		}
		if len(f.RPath) > 0 {
			ew.printf("  RPATH %s\n", strings.Join(f.RPath, ":"))
		}
		if len(f.RunPath) > 0 {
			ew.printf("  RUNPATH %s\n", strings.Join(f.RunPath, ":"))
		}
		for _, n := range f.Needed {
			where := n.Path
			if where == "" {
				where = "-"
			}
			ew.printf("  %s => %s (%s", n.Name, where, n.From)
			if n.Via != "" {
				ew.printf(", via %s", n.Via)
			}
			ew.printf(")\n")
		}
	}
	if len(r.Files) > 0 {
		ew.printf("\n")
	}
	if ew.err != nil {
		return ew.err
	}
	return r.Summary(w)
}

// Summary writes the violations, one per line, and a summary line: the
// part of Text that says what is wrong.
func (r *Report) Summary(w io.Writer) error {
	ew := &errWriter{w: w}
	if len(r.Violations) > 0 {
		label := "violations"
		if r.WarnOnly {
			label = "warnings (warn-only)"
		}
		ew.printf("%s:\n", label)
		for _, v := range r.Violations {
			ew.printf("%s\n", v)
		}
		ew.printf("\n")
	}
	ew.printf("%s: %d ELF files (%d files scanned, %d ignored), %d violation(s)", r.Root, len(r.Files), r.Scanned, r.Ignored, len(r.Violations))
	if vs := formatVersions(r.MaxVersions); vs != "" {
		ew.printf("; highest versions needed: %s", vs)
	}
	ew.printf("\n")
	return ew.err
}

// formatVersions renders {"GLIBC": "2.34"} as "GLIBC_2.34", in a fixed
// family order.
func formatVersions(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "_" + m[k]
	}
	return strings.Join(out, " ")
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	if _, err := fmt.Fprintf(e.w, format, args...); err != nil {
		e.err = fmt.Errorf("write policy report: %w", err)
	}
}
