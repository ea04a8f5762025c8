package source

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"net/url"
	"strings"
)

// Checksum is an expected digest of a file.
type Checksum struct {
	Algo string // md5, sha1, sha256, sha512
	Hex  string // lower-case hexadecimal
}

var hexLen = map[string]int{"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}

// algoAliases maps the names profiles use (buildout's md5sum, SlapOS's
// sha256sum ...) to canonical algorithm names.
var algoAliases = map[string]string{
	"md5": "md5", "md5sum": "md5",
	"sha1": "sha1", "sha1sum": "sha1",
	"sha256": "sha256", "sha256sum": "sha256",
	"sha512": "sha512", "sha512sum": "sha512",
}

// ParseChecksum validates a checksum. algo is md5, sha1, sha256 or sha512
// (or the option names md5sum, sha256sum ...), hex its hexadecimal digest.
func ParseChecksum(algo, hexdigest string) (Checksum, error) {
	a, ok := algoAliases[strings.ToLower(strings.TrimSpace(algo))]
	if !ok {
		return Checksum{}, fmt.Errorf("parse checksum: unknown algorithm %q (use md5, sha1, sha256 or sha512)", algo)
	}
	h := strings.ToLower(strings.TrimSpace(hexdigest))
	if len(h) != hexLen[a] {
		return Checksum{}, fmt.Errorf("parse checksum: %s digest %q has %d hex digits, want %d", a, hexdigest, len(h), hexLen[a])
	}
	if _, err := hex.DecodeString(h); err != nil {
		return Checksum{}, fmt.Errorf("parse checksum: %s digest %q is not hexadecimal", a, hexdigest)
	}
	return Checksum{Algo: a, Hex: h}, nil
}

// ParseChecksumSpec parses "algo:hex", "algo=hex" or a bare hex digest,
// whose algorithm is told by its length (32 md5, 40 sha1, 64 sha256, 128
// sha512), as in SlapOS's "file.patch#<md5>".
func ParseChecksumSpec(s string) (Checksum, error) {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, ":="); i >= 0 {
		return ParseChecksum(s[:i], s[i+1:])
	}
	for a, n := range hexLen {
		if len(s) == n {
			return ParseChecksum(a, s)
		}
	}
	return Checksum{}, fmt.Errorf("parse checksum: %q is not algo:hex nor a hex digest of 32, 40, 64 or 128 digits", s)
}

// String returns "algo:hex".
func (c Checksum) String() string { return c.Algo + ":" + c.Hex }

// New returns a hash for the checksum's algorithm.
func (c Checksum) New() hash.Hash { return newHash(c.Algo) }

func newHash(algo string) hash.Hash {
	switch algo {
	case "md5":
		return md5.New()
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	case "sha512":
		return sha512.New()
	}
	panic("source: unknown hash algorithm " + algo)
}

// ChecksumOptions are the option names, in a part's section, that hold a
// checksum of its url (buildout's md5sum and its siblings).
var ChecksumOptions = []string{"md5sum", "sha1sum", "sha256", "sha256sum", "sha512", "sha512sum"}

// ChecksumsFromOptions reads the checksum options of a section (see
// ChecksumOptions) through get. Empty values are ignored.
func ChecksumsFromOptions(get func(option string) (string, bool)) ([]Checksum, error) {
	var sums []Checksum
	for _, opt := range ChecksumOptions {
		v, ok := get(opt)
		if !ok || strings.TrimSpace(v) == "" {
			continue
		}
		c, err := ParseChecksum(opt, v)
		if err != nil {
			return nil, fmt.Errorf("option %s: %w", opt, err)
		}
		sums = append(sums, c)
	}
	return MergeChecksums(sums)
}

// SplitURL removes a checksum fragment from a URL or path and returns it:
// "u#md5=HEX", "u#sha256=HEX" (pip's form), "u#HEX" and "u#md5:HEX" (SlapOS's
// patches). A fragment that is not a checksum is left in place.
func SplitURL(raw string) (string, []Checksum, error) {
	i := strings.LastIndexByte(raw, '#')
	if i < 0 {
		return raw, nil, nil
	}
	frag := raw[i+1:]
	if strings.ContainsAny(frag, ":=") {
		if algo := frag[:strings.IndexAny(frag, ":=")]; algoAliases[strings.ToLower(algo)] == "" {
			return raw, nil, nil
		}
	} else if _, err := hex.DecodeString(frag); err != nil || frag == "" {
		return raw, nil, nil
	}
	c, err := ParseChecksumSpec(frag)
	if err != nil {
		return "", nil, fmt.Errorf("parse checksum fragment of %s: %w", redact(raw[:i]), err)
	}
	return raw[:i], []Checksum{c}, nil
}

// MergeChecksums removes duplicates and refuses two different digests for
// one algorithm.
func MergeChecksums(sums []Checksum) ([]Checksum, error) {
	seen := map[string]string{}
	var out []Checksum
	for _, c := range sums {
		if _, ok := hexLen[c.Algo]; !ok {
			return nil, fmt.Errorf("merge checksums: unknown algorithm %q", c.Algo)
		}
		if h, ok := seen[c.Algo]; ok {
			if h != c.Hex {
				return nil, fmt.Errorf("merge checksums: two different %s digests given: %s and %s", c.Algo, h, c.Hex)
			}
			continue
		}
		seen[c.Algo] = c.Hex
		out = append(out, c)
	}
	return out, nil
}

// MismatchError says a file does not have the digest it was pinned to.
type MismatchError struct {
	URL      string
	Algo     string
	Expected string
	Got      string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("checksum mismatch for %s: expected %s %s, got %s", e.URL, e.Algo, e.Expected, e.Got)
}

// multiHash hashes a stream with sha256 and every algorithm of sums at once.
type multiHash struct {
	sha256 hash.Hash
	others map[string]hash.Hash
}

func newMultiHash(sums []Checksum) *multiHash {
	m := &multiHash{sha256: sha256.New(), others: map[string]hash.Hash{}}
	for _, c := range sums {
		if c.Algo != "sha256" {
			m.others[c.Algo] = newHash(c.Algo)
		}
	}
	return m
}

func (m *multiHash) Write(p []byte) (int, error) {
	m.sha256.Write(p)
	for _, h := range m.others {
		h.Write(p)
	}
	return len(p), nil
}

func (m *multiHash) Reset() {
	m.sha256.Reset()
	for _, h := range m.others {
		h.Reset()
	}
}

func (m *multiHash) sum(algo string) string {
	if algo == "sha256" {
		return hex.EncodeToString(m.sha256.Sum(nil))
	}
	return hex.EncodeToString(m.others[algo].Sum(nil))
}

// verify checks every sum; the first mismatch is returned.
func (m *multiHash) verify(where string, sums []Checksum) error {
	for _, c := range sums {
		if got := m.sum(c.Algo); got != c.Hex {
			return &MismatchError{URL: where, Algo: c.Algo, Expected: c.Hex, Got: got}
		}
	}
	return nil
}

// redact hides the password of a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
