package pydist

import (
	"regexp"
	"strings"
)

// pep440 is the PEP 440 version grammar (Appendix B of the PEP), with the
// leading "v" and the separators it allows.
var pep440 = regexp.MustCompile(`(?i)^v?` +
	`(?:([0-9]+)!)?` +
	`([0-9]+(?:\.[0-9]+)*)` +
	`(?:[-_.]?(alpha|beta|preview|pre|rc|a|b|c)[-_.]?([0-9]+)?)?` +
	`(?:-([0-9]+)|[-_.]?(post|rev|r)[-_.]?([0-9]+)?)?` +
	`(?:[-_.]?(dev)[-_.]?([0-9]+)?)?` +
	`(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$`)

// version is a parsed PEP 440 version. Numbers are kept as decimal strings
// without leading zeros so that arbitrarily long ones compare correctly.
type version struct {
	epoch   string
	release []string
	pre     int // -1 none, 0 a, 1 b, 2 rc
	preN    string
	post    bool
	postN   string
	dev     bool
	devN    string
	local   []string
}

func trimZeros(n string) string {
	n = strings.TrimLeft(n, "0")
	if n == "" {
		return "0"
	}
	return n
}

// cmpNum compares two decimal strings without leading zeros.
func cmpNum(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseVersion parses a PEP 440 version; ok is false for anything else.
func parseVersion(s string) (version, bool) {
	m := pep440.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return version{}, false
	}
	v := version{epoch: "0", pre: -1}
	if m[1] != "" {
		v.epoch = trimZeros(m[1])
	}
	for _, r := range strings.Split(m[2], ".") {
		v.release = append(v.release, trimZeros(r))
	}
	if m[3] != "" {
		switch strings.ToLower(m[3]) {
		case "a", "alpha":
			v.pre = 0
		case "b", "beta":
			v.pre = 1
		default:
			v.pre = 2
		}
		v.preN = trimZeros(m[4])
	}
	switch {
	case m[5] != "":
		v.post, v.postN = true, trimZeros(m[5])
	case m[6] != "":
		v.post, v.postN = true, trimZeros(m[7])
	}
	if m[8] != "" {
		v.dev, v.devN = true, trimZeros(m[9])
	}
	if m[10] != "" {
		for _, l := range strings.FieldsFunc(strings.ToLower(m[10]), func(r rune) bool {
			return r == '-' || r == '_' || r == '.'
		}) {
			if isDigits(l) {
				l = trimZeros(l)
			}
			v.local = append(v.local, l)
		}
	}
	return v, true
}

// isPre says whether v is a pre-release or a development release.
func (v version) isPre() bool { return v.pre >= 0 || v.dev }

// public is v without its local label.
func (v version) public() version {
	v.local = nil
	return v
}

// base is v's epoch and release only.
func (v version) base() version {
	return version{epoch: v.epoch, release: v.release, pre: -1}
}

func cmpRelease(a, b []string) int {
	n := max(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := "0", "0"
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if c := cmpNum(x, y); c != 0 {
			return c
		}
	}
	return 0
}

// preKey orders the pre-release part: a development release of a final
// sorts before its pre-releases, a version without pre-release after them.
func (v version) preKey() (int, string) {
	switch {
	case v.pre < 0 && !v.post && v.dev:
		return -1, ""
	case v.pre < 0:
		return 3, ""
	}
	return v.pre, v.preN
}

func cmpLocal(a, b []string) int {
	if a == nil && b == nil {
		return 0
	}
	if a == nil {
		return -1
	}
	if b == nil {
		return 1
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := a[i], b[i]
		xn, yn := isDigits(x), isDigits(y)
		var c int
		switch {
		case xn && yn:
			c = cmpNum(x, y)
		case xn:
			c = 1 // numeric segments sort after alphanumeric ones
		case yn:
			c = -1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return cmpInt(len(a), len(b))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (v version) cmp(w version) int {
	if c := cmpNum(v.epoch, w.epoch); c != 0 {
		return c
	}
	if c := cmpRelease(v.release, w.release); c != 0 {
		return c
	}
	vp, vn := v.preKey()
	wp, wn := w.preKey()
	if c := cmpInt(vp, wp); c != 0 {
		return c
	}
	if c := cmpNum(vn, wn); vn != "" && wn != "" && c != 0 {
		return c
	}
	if v.post != w.post {
		if v.post {
			return 1
		}
		return -1
	}
	if c := cmpNum(v.postN, w.postN); v.post && c != 0 {
		return c
	}
	if v.dev != w.dev {
		if v.dev {
			return -1
		}
		return 1
	}
	if c := cmpNum(v.devN, w.devN); v.dev && c != 0 {
		return c
	}
	return cmpLocal(v.local, w.local)
}

// CompareVersions orders PEP 440 versions and returns -1, 0 or +1. Strings
// that are not PEP 440 versions sort after every valid version, lexically
// among themselves.
func CompareVersions(a, b string) int {
	va, oka := parseVersion(a)
	vb, okb := parseVersion(b)
	switch {
	case oka && okb:
		return va.cmp(vb)
	case oka:
		return -1
	case okb:
		return 1
	}
	return strings.Compare(a, b)
}

// ValidVersion says whether s is a PEP 440 version.
func ValidVersion(s string) bool {
	_, ok := parseVersion(s)
	return ok
}

// IsPrerelease says whether s is a PEP 440 pre-release or development
// release; false for invalid versions.
func IsPrerelease(s string) bool {
	v, ok := parseVersion(s)
	return ok && v.isPre()
}
