package pydist

import (
	"strconv"
	"strings"
)

// Normalize is the PEP 503 normalized project name: lowercase, runs of
// '-', '_' and '.' become "-".
func Normalize(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '-' || c == '_' || c == '.' {
			sep = true
			continue
		}
		if sep {
			b.WriteByte('-')
			sep = false
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	if sep {
		b.WriteByte('-')
	}
	return b.String()
}

// File is a distribution file recognised by its name.
type File struct {
	Name    string // the file name as found, e.g. "lxml-4.9.2.tar.gz"
	Project string // as written in the file name ("lxml", "zc.buildout", "Django")
	Version string
	Kind    string // "sdist" or "wheel"
	// Wheel tags split on '.': e.g. Python ["py2","py3"], ABI ["none"],
	// Platform ["any"]. Empty for sdists.
	Python, ABI, Platform []string
	Build                 string // wheel build tag, "" = none
}

// sdistExts are the archive suffixes of source distributions.
var sdistExts = []string{".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip"}

// sdistExt returns the sdist suffix of name (matched case-insensitively) or "".
func sdistExt(name string) string {
	lower := strings.ToLower(name)
	for _, e := range sdistExts {
		if strings.HasSuffix(lower, e) {
			return name[len(name)-len(e):]
		}
	}
	return ""
}

// ParseFilename recognises source distributions (.tar.gz .tgz .tar.bz2
// .tar.xz .zip) named NAME-VERSION and PEP 427 wheels
// NAME-VERSION(-BUILD)?-PY-ABI-PLATFORM.whl. ok is false for anything else
// (eggs, installers, unrelated files).
func ParseFilename(name string) (File, bool) {
	if strings.ContainsAny(name, "/\\ \t\n") {
		return File{}, false
	}
	if strings.HasSuffix(strings.ToLower(name), ".whl") {
		return parseWheelName(name)
	}
	ext := sdistExt(name)
	if ext == "" {
		return File{}, false
	}
	project, ver, ok := splitSdist(name[:len(name)-len(ext)])
	if !ok {
		return File{}, false
	}
	return File{Name: name, Project: project, Version: ver, Kind: "sdist"}, true
}

// splitSdist splits NAME-VERSION. Names may contain '-' and versions may
// too (a "-N" post-release), so it takes the leftmost split whose version
// is PEP 440 and whose name is valid; failing that, like setuptools, the
// last '-' followed by a digit.
func splitSdist(base string) (project, ver string, ok bool) {
	last := -1
	for i := 0; i+1 < len(base); i++ {
		if base[i] != '-' || base[i+1] < '0' || base[i+1] > '9' {
			continue
		}
		if validName(base[:i]) {
			if ValidVersion(base[i+1:]) {
				return base[:i], base[i+1:], true
			}
			last = i
		}
	}
	if last < 0 {
		return "", "", false
	}
	return base[:last], base[last+1:], true
}

// SplitSdistFor splits an sdist file name for a known project: the name
// must start with the project's name (compared normalized) followed by '-'.
// It resolves names that ParseFilename splits wrongly.
func SplitSdistFor(name, project string) (File, bool) {
	ext := sdistExt(name)
	if ext == "" || strings.ContainsAny(name, "/\\") {
		return File{}, false
	}
	base := name[:len(name)-len(ext)]
	n := len(project)
	if len(base) <= n+1 || base[n] != '-' || Normalize(base[:n]) != Normalize(project) {
		return File{}, false
	}
	return File{Name: name, Project: base[:n], Version: base[n+1:], Kind: "sdist"}, true
}

func parseWheelName(name string) (File, bool) {
	parts := strings.Split(name[:len(name)-len(".whl")], "-")
	f := File{Name: name, Kind: "wheel"}
	switch len(parts) {
	case 5:
	case 6:
		f.Build = parts[2]
		if f.Build == "" || f.Build[0] < '0' || f.Build[0] > '9' {
			return File{}, false
		}
		parts = append(parts[:2], parts[3:]...)
	default:
		return File{}, false
	}
	for _, p := range parts {
		if p == "" {
			return File{}, false
		}
	}
	if !validName(parts[0]) {
		return File{}, false
	}
	f.Project, f.Version = parts[0], parts[1]
	f.Python = strings.Split(parts[2], ".")
	f.ABI = strings.Split(parts[3], ".")
	f.Platform = strings.Split(parts[4], ".")
	return f, true
}

// Target describes the interpreter distributions are installed for.
type Target struct {
	PythonVersion string // "3.11" or "3.11.2"
	Machine       string // platform_machine, "x86_64" when empty
}

func (t Target) machine() string {
	if t.Machine == "" {
		return "x86_64"
	}
	return t.Machine
}

// majorMinor returns the target's major and minor version (3, 11), or
// ok=false when PythonVersion is not of that form.
func (t Target) majorMinor() (major, minor int, ok bool) {
	parts := strings.Split(strings.TrimSpace(t.PythonVersion), ".")
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || major < 0 || minor < 0 {
		return 0, 0, false
	}
	return major, minor, true
}

// linuxPlatform says whether p is a Linux platform tag for machine m:
// linux_M, manylinux1_M, manylinux2010_M, manylinux2014_M or
// manylinux_2_N_M.
func linuxPlatform(p, m string) bool {
	m = strings.NewReplacer("-", "_", ".", "_").Replace(m)
	rest, ok := strings.CutSuffix(p, "_"+m)
	if !ok {
		return false
	}
	switch rest {
	case "linux", "manylinux1", "manylinux2010", "manylinux2014":
		return true
	}
	if n, ok := strings.CutPrefix(rest, "manylinux_2_"); ok {
		return isDigits(n)
	}
	return false
}

// tagRank says whether the wheel tag py-abi-plat installs for t, and how
// specific it is (higher is preferred): 0 = not compatible.
func (t Target) tagRank(py, abi, plat string) int {
	major, minor, ok := t.majorMinor()
	if !ok {
		return 0
	}
	linux := linuxPlatform(plat, t.machine())
	if plat != "any" && !linux {
		return 0
	}
	pyNum := func(prefix string) (int, bool) {
		rest, ok := strings.CutPrefix(py, prefix)
		if !ok || !isDigits(rest) || len(rest) < 2 || len(rest) > 4 || rest[0] != byte('0'+major) {
			return 0, false
		}
		n, err := strconv.Atoi(rest[1:])
		return n, err == nil
	}
	rank := 1
	if linux {
		rank = 2
	}
	cp := "cp" + strconv.Itoa(major) + strconv.Itoa(minor)
	switch {
	case py == cp && (abi == cp || (minor < 8 && abi == cp+"m")) && linux:
		return 10
	case py == cp && abi == "abi3" && linux:
		return 8
	case py == cp && abi == "none":
		return 6 + rank
	}
	if n, ok := pyNum("cp"); ok && n < minor && abi == "abi3" && linux {
		return 7
	}
	if abi != "none" {
		return 0
	}
	if py == "py"+strconv.Itoa(major) {
		return rank
	}
	if n, ok := pyNum("py"); ok && n <= minor {
		return rank + 2
	}
	return 0
}

// wheelRank is the best tagRank over a wheel's tag set, 0 = incompatible.
func (t Target) wheelRank(f File) int {
	best := 0
	for _, py := range f.Python {
		for _, abi := range f.ABI {
			for _, plat := range f.Platform {
				best = max(best, t.tagRank(py, abi, plat))
			}
		}
	}
	return best
}

// Compatible says whether f can be installed for t. Sdists always can;
// wheels when one of their tags is pure Python for t's major version (py3,
// py3X with X <= minor, ABI none, platform any or Linux), or CPython for
// t's version (cpXY with ABI cpXY, abi3 or none, or cpXY with abi3 for an
// older XY) on linux_<machine> or manylinux*_<machine>.
func (t Target) Compatible(f File) bool {
	if f.Kind == "sdist" {
		return true
	}
	return f.Kind == "wheel" && t.wheelRank(f) > 0
}

// MarkerEnv returns the PEP 508 marker environment of CPython t on Linux.
func (t Target) MarkerEnv() map[string]string {
	short := t.PythonVersion
	if major, minor, ok := t.majorMinor(); ok {
		short = strconv.Itoa(major) + "." + strconv.Itoa(minor)
	}
	return map[string]string{
		"os_name":                        "posix",
		"sys_platform":                   "linux",
		"platform_system":                "Linux",
		"platform_machine":               t.machine(),
		"platform_release":               "",
		"platform_version":               "",
		"implementation_name":            "cpython",
		"platform_python_implementation": "CPython",
		"python_version":                 short,
		"python_full_version":            t.PythonVersion,
		"implementation_version":         t.PythonVersion,
	}
}
