package debian

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Options says where and how to reach an archive.
type Options struct {
	CacheDir   string   // download cache root: blobs at CacheDir/blobs/sha256/<hex> (required)
	Mirror     string   // archive root URL; "" = the host's first deb source
	Suites     []string // suites to resolve against; "" = that source's suites (e.g. bookworm bookworm-updates)
	Components []string // default: main
	Arch       string   // Debian architecture; default: the host's (amd64 on x86-64)
	Keyring    string   // OpenPGP keyring (binary or armored); "" = the source's Signed-By, else DefaultKeyring
	Client     *http.Client
	Offline    bool                 // use only the download cache
	Events     func(message string) // progress messages; may be nil
	Now        func() time.Time     // clock for Valid-Until; nil = time.Now
}

// withDefaults fills Mirror, Suites, Keyring, Components and Arch.
// The host's apt sources are read only when Mirror or Suites are empty.
func (o Options) withDefaults() (Options, error) {
	if o.CacheDir == "" {
		return o, errors.New("debian: Options.CacheDir is required")
	}
	if o.Mirror == "" || len(o.Suites) == 0 {
		m, err := DefaultMirror()
		if err != nil {
			if o.Mirror == "" {
				return o, err
			}
		} else {
			if o.Mirror == "" {
				o.Mirror = m.URI
				if o.Keyring == "" {
					o.Keyring = m.Keyring
				}
			}
			if len(o.Suites) == 0 {
				o.Suites = m.Suites
			}
			if len(o.Components) == 0 {
				o.Components = m.Components
			}
		}
	}
	if len(o.Suites) == 0 {
		return o, fmt.Errorf("debian: no suite given for %s (set suite = in the profile)", o.Mirror)
	}
	o.Mirror = strings.TrimRight(o.Mirror, "/")
	if o.Keyring == "" {
		o.Keyring = DefaultKeyring
	}
	if len(o.Components) == 0 {
		o.Components = []string{"main"}
	}
	if o.Arch == "" {
		o.Arch = HostArch()
	}
	return o, nil
}

// HostArch is the Debian name of the host's architecture.
func HostArch() string {
	switch runtime.GOARCH {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	}
	return runtime.GOARCH
}

// IndexFile is one file listed in a Release file.
type IndexFile struct {
	Path   string
	Size   int64
	SHA256 string
}

// Release is a verified InRelease file.
type Release struct {
	Suite, Codename  string
	Date, ValidUntil time.Time
	Architectures    []string
	Components       []string
	Files            map[string]IndexFile // by path relative to dists/SUITE
	Signer           string               // primary identity of the key that signed it
}

// Archive is one suite of a Debian archive whose InRelease was verified.
type Archive struct {
	Mirror  string
	Suite   string
	Release *Release
	opts    Options
}

// Open fetches mirror/dists/suite/InRelease and verifies its signature
// against the keyring; a missing, unsigned or badly signed InRelease is an
// error.
func Open(ctx context.Context, mirror, suite string, opts Options) (*Archive, error) {
	opts.Mirror, opts.Suites = mirror, []string{suite}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	url := o.Mirror + "/dists/" + suite + "/InRelease"
	o.event("fetch %s", url)
	data, err := o.get(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open suite %s: %w", suite, err)
	}
	keyring, err := LoadKeyring(o.Keyring)
	if err != nil {
		return nil, err
	}
	rel, err := VerifyRelease(data, keyring, o.now())
	if err != nil {
		return nil, fmt.Errorf("open suite %s: %s: %w", suite, url, err)
	}
	return &Archive{Mirror: o.Mirror, Suite: suite, Release: rel, opts: o}, nil
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// LoadKeyring reads an OpenPGP keyring, binary (.gpg) or armored (.asc).
func LoadKeyring(path string) (openpgp.EntityList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read keyring: %w", err)
	}
	var el openpgp.EntityList
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("read keyring %s: %w", path, err)
	}
	if len(el) == 0 {
		return nil, fmt.Errorf("read keyring %s: no keys", path)
	}
	return el, nil
}

// SignatureError is an InRelease whose signature does not verify.
type SignatureError struct{ Err error }

func (e *SignatureError) Error() string {
	return fmt.Sprintf("bad signature: %v (is the keyring right? set keyring = in the profile)", e.Err)
}
func (e *SignatureError) Unwrap() error { return e.Err }

// VerifyRelease checks a clearsigned InRelease against keyring and parses it.
func VerifyRelease(data []byte, keyring openpgp.EntityList, now time.Time) (*Release, error) {
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, &SignatureError{Err: errors.New("InRelease is not clearsigned")}
	}
	signer, err := block.VerifySignature(keyring, nil)
	if err != nil {
		return nil, &SignatureError{Err: err}
	}
	rel, err := parseRelease(block.Plaintext)
	if err != nil {
		return nil, err
	}
	if signer != nil {
		if id := signer.PrimaryIdentity(); id != nil {
			rel.Signer = id.Name
		}
	}
	if !rel.ValidUntil.IsZero() && now.After(rel.ValidUntil) {
		return nil, fmt.Errorf("release expired on %s (Valid-Until): the mirror is stale", rel.ValidUntil.Format(time.RFC1123))
	}
	return rel, nil
}

func parseRelease(text []byte) (*Release, error) {
	var p Paragraph
	err := ReadParagraphs(bytes.NewReader(text), nil, func(q Paragraph, _ int) error {
		if p == nil {
			p = q
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("parse InRelease: %w", err)
	}
	if p == nil {
		return nil, errors.New("parse InRelease: empty")
	}
	rel := &Release{
		Suite: p.Get("Suite"), Codename: p.Get("Codename"),
		Architectures: strings.Fields(p.Get("Architectures")),
		Components:    strings.Fields(p.Get("Components")),
		Files:         map[string]IndexFile{},
	}
	if d := p.Get("Date"); d != "" {
		rel.Date, _ = parseReleaseTime(d)
	}
	if d := p.Get("Valid-Until"); d != "" {
		t, err := parseReleaseTime(d)
		if err != nil {
			return nil, fmt.Errorf("parse InRelease: Valid-Until: %w", err)
		}
		rel.ValidUntil = t
	}
	for _, line := range strings.Split(p.Get("SHA256"), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse InRelease: SHA256 line %q: %w", line, err)
		}
		rel.Files[f[2]] = IndexFile{Path: f[2], Size: size, SHA256: strings.ToLower(f[0])}
	}
	if len(rel.Files) == 0 {
		return nil, errors.New("parse InRelease: no SHA256 file list")
	}
	return rel, nil
}

func parseReleaseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad date %q", s)
}

// fetchIndex downloads the best compressed variant of an index listed in
// the Release (base is e.g. "main/binary-amd64/Packages"), verified by its
// SHA-256, and returns a reader of the decompressed text.
func (a *Archive) fetchIndex(ctx context.Context, base string) (io.ReadCloser, error) {
	for _, ext := range []string{".gz", ".xz", ".zst", ""} {
		f, ok := a.Release.Files[base+ext]
		if !ok {
			continue
		}
		url := a.Mirror + "/dists/" + a.Suite + "/" + f.Path
		what := a.Suite + "/" + f.Path
		if !haveBlob(a.opts.CacheDir, f.SHA256, f.Size) {
			a.opts.event("fetch %s", url)
		}
		path, err := a.opts.fetchBlob(ctx, url, what, f.SHA256, f.Size)
		if isNotFound(err) {
			continue // listed but not served (by-hash only mirrors): try the next form
		}
		if err != nil {
			return nil, err
		}
		file, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		r, err := decompress(file, ext)
		if err != nil {
			file.Close()
			return nil, fmt.Errorf("read %s: %w", what, err)
		}
		return r, nil
	}
	return nil, fmt.Errorf("suite %s has no %s index (InRelease lists none)", a.Suite, base)
}

type multiCloser struct {
	io.Reader
	closers []io.Closer
}

func (m *multiCloser) Close() error {
	var first error
	for _, c := range m.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// decompress wraps r by the compression that ext names (".gz", ".xz",
// ".zst", "").
func decompress(r io.ReadCloser, ext string) (io.ReadCloser, error) {
	switch ext {
	case ".gz":
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		return &multiCloser{z, []io.Closer{z, r}}, nil
	case ".xz":
		z, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		return &multiCloser{z, []io.Closer{r}}, nil
	case ".zst":
		z, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return &multiCloser{z, []io.Closer{closerFunc(func() error { z.Close(); return nil }), r}}, nil
	case "":
		return r, nil
	}
	return nil, fmt.Errorf("unknown compression %q", ext)
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
