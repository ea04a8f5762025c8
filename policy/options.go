package policy

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Options is the policy applied to a tree.
type Options struct {
	// AllowLibs are library names (sonames, shell globs such as
	// "libGL.so.*") that a file may need although no part provides them:
	// the run-time system supplies them. Option allow-libs.
	AllowLibs []string
	// IgnorePaths are globs of files not checked (option ignore-paths),
	// matched against the slash-separated path relative to the tree. A
	// pattern without a slash matches any single path element (so "*.debug"
	// or "tests" skip such files or whole directories); a pattern with a
	// slash matches the path or one of its leading directories (so
	// "share/doc" or "lib/python*/test" skip those subtrees).
	IgnorePaths []string
	// MaxGlibc is the highest GLIBC_ symbol version a file may need, such
	// as "2.28" (option max-glibc); "" sets no limit.
	MaxGlibc string
	// WarnOnly keeps violations in the report but makes Report.OK true
	// (option warn-only).
	WarnOnly bool
	// AllowLibstdcxx and AllowLibgcc let files need libstdc++.so.6 and
	// libgcc_s.so.1 from the runtime base (options allow-libstdcxx and
	// allow-libgcc). DefaultOptions, FromOptions and FromSection set both;
	// the zero Options is strict and allows neither.
	AllowLibstdcxx, AllowLibgcc bool
}

// DefaultOptions is the policy when a profile says nothing: glibc,
// libgcc_s and libstdc++ from the runtime base, no version limit.
func DefaultOptions() Options { return Options{AllowLibstdcxx: true, AllowLibgcc: true} }

// optionNames are the policy's option names without the policy- prefix.
var optionNames = []string{"allow-libs", "ignore-paths", "max-glibc", "warn-only", "allow-libstdcxx", "allow-libgcc"}

// FromOptions reads a policy from a part's options policy-allow-libs,
// policy-ignore-paths, policy-max-glibc, policy-warn-only,
// policy-allow-libstdcxx and policy-allow-libgcc, starting from
// DefaultOptions. get returns an option's value and whether it is set.
func FromOptions(get func(option string) (string, bool)) (Options, error) {
	return DefaultOptions().Apply("policy-", get)
}

// FromSection reads a policy from an [hbuild-policy] section, whose options
// are the same names without the policy- prefix (allow-libs, ignore-paths,
// max-glibc, warn-only, allow-libstdcxx, allow-libgcc).
func FromSection(get func(option string) (string, bool)) (Options, error) {
	return DefaultOptions().Apply("", get)
}

// Apply returns o with the options prefix+NAME that get finds applied on
// top: lists (allow-libs, ignore-paths) are extended, the others replaced.
// The engine uses it to layer a part's policy-* options over the
// profile's [hbuild-policy] section:
//
//	global, err := policy.FromSection(section)
//	opts, err := global.Apply("policy-", partOption)
//
// Lists are separated by white space (newlines included); booleans are
// true/false, yes/no, on/off or 1/0.
func (o Options) Apply(prefix string, get func(option string) (string, bool)) (Options, error) {
	o.AllowLibs = append([]string(nil), o.AllowLibs...)
	o.IgnorePaths = append([]string(nil), o.IgnorePaths...)
	for _, name := range optionNames {
		v, ok := get(prefix + name)
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		bad := func(err error) (Options, error) {
			return o, fmt.Errorf("parse option %s%s = %q: %w", prefix, name, v, err)
		}
		switch name {
		case "allow-libs", "ignore-paths":
			for _, f := range strings.Fields(v) {
				if _, err := path.Match(f, ""); err != nil {
					return bad(fmt.Errorf("bad glob %q: %w", f, err))
				}
				if name == "allow-libs" {
					o.AllowLibs = append(o.AllowLibs, f)
				} else {
					o.IgnorePaths = append(o.IgnorePaths, f)
				}
			}
		case "max-glibc":
			if v != "" {
				if _, ok := parseVersion(v); !ok {
					return bad(fmt.Errorf("not a version such as 2.28"))
				}
			}
			o.MaxGlibc = v
		default:
			b, err := parseBool(v)
			if err != nil {
				return bad(err)
			}
			switch name {
			case "warn-only":
				o.WarnOnly = b
			case "allow-libstdcxx":
				o.AllowLibstdcxx = b
			case "allow-libgcc":
				o.AllowLibgcc = b
			}
		}
	}
	return o, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0", "":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean (use true or false)")
}

// ignored reports whether rel (slash-separated, relative to the tree) is
// matched by one of the ignore-paths globs.
func (o *Options) ignored(rel string) bool {
	if len(o.IgnorePaths) == 0 {
		return false
	}
	elems := strings.Split(rel, "/")
	for _, pat := range o.IgnorePaths {
		pat = strings.Trim(pat, "/")
		if !strings.Contains(pat, "/") {
			for _, e := range elems {
				if ok, _ := path.Match(pat, e); ok {
					return true
				}
			}
			continue
		}
		for i := range elems {
			if ok, _ := path.Match(pat, strings.Join(elems[:i+1], "/")); ok {
				return true
			}
		}
	}
	return false
}

// allowed reports whether a library name is allowed by allow-libs.
func (o *Options) allowed(name string) bool {
	for _, pat := range o.AllowLibs {
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
	}
	return false
}

// glibcLibs are the sonames glibc itself installs (x86_64, aarch64, i386
// and the other Linux ports' loader names start with ld-linux or ld64).
var glibcLibs = map[string]bool{
	"libc.so.6": true, "libm.so.6": true, "libpthread.so.0": true, "libdl.so.2": true,
	"librt.so.1": true, "libutil.so.1": true, "libresolv.so.2": true, "libanl.so.1": true,
	"libmvec.so.1": true, "libBrokenLocale.so.1": true, "libthread_db.so.1": true,
	"libc_malloc_debug.so.0": true, "libnsl.so.1": true,
	"libnss_files.so.2": true, "libnss_dns.so.2": true, "libnss_compat.so.2": true,
	"libnss_hesiod.so.2": true, "libnss_db.so.2": true,
	// Helpers of glibc's iconv modules, found through the modules' own
	// RUNPATH $ORIGIN in the gconv directory.
	"libCNS.so": true, "libGB.so": true, "libISOIR165.so": true, "libJIS.so": true,
	"libJISX0213.so": true, "libKSC.so": true,
}

// isGlibc reports whether name is one of glibc's libraries or its dynamic
// loader.
func isGlibc(name string) bool {
	if glibcLibs[name] {
		return true
	}
	return strings.HasPrefix(name, "ld-linux") && strings.Contains(name, ".so.") || strings.HasPrefix(name, "ld64.so.")
}

// fromBase reports whether the runtime base may provide name: glibc, the
// GCC runtime libraries the policy allows, or an allow-libs entry.
func (o *Options) fromBase(name string) bool {
	switch {
	case isGlibc(name):
		return true
	case name == "libgcc_s.so.1":
		return o.AllowLibgcc
	case name == "libstdc++.so.6":
		return o.AllowLibstdcxx
	}
	return o.allowed(name)
}

// parseVersion parses "2.34" or "3.4.30" into numbers.
func parseVersion(s string) ([]int, bool) {
	if s == "" {
		return nil, false
	}
	parts := strings.Split(s, ".")
	out := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// compareVersions compares two dotted version numbers.
func compareVersions(a, b []int) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// versionFamilies are the symbol-version prefixes whose highest number is
// reported.
var versionFamilies = []string{"GLIBCXX_", "GLIBC_", "CXXABI_", "GCC_"}

// MaxVersions returns the highest needed version per family ("GLIBC",
// "GLIBCXX", "CXXABI", "GCC"), e.g. {"GLIBC": "2.34"}. Non-numeric
// versions such as GLIBC_PRIVATE are left out.
func MaxVersions(needs []VersionNeed) map[string]string {
	var out map[string]string
	for _, vn := range needs {
		for _, v := range vn.Versions {
			addVersion(&out, v)
		}
	}
	return out
}

func addVersion(m *map[string]string, v string) {
	for _, fam := range versionFamilies {
		num, ok := strings.CutPrefix(v, fam)
		if !ok {
			continue
		}
		n, ok := parseVersion(num)
		if !ok {
			return
		}
		key := strings.TrimSuffix(fam, "_")
		if *m == nil {
			*m = map[string]string{}
		}
		if old, ok := (*m)[key]; ok {
			o, _ := parseVersion(old)
			if compareVersions(n, o) <= 0 {
				return
			}
		}
		(*m)[key] = num
		return
	}
}
