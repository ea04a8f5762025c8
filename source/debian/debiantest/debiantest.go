// Package debiantest serves a small, signed Debian archive on loopback for
// tests: it builds .deb files in Go, writes Packages, Sources and a
// clearsigned InRelease with a throw-away OpenPGP key made at start, and lets
// a test tamper with any file afterwards.
package debiantest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// File is one member of a package's data archive.
type File struct {
	Path string // e.g. "usr/bin/hello"; written as "./usr/bin/hello" unless Raw
	Body string
	Mode int64 // default 0644 (0755 for directories)
	Type byte  // tar type; default tar.TypeReg
	Link string
	Raw  bool // use Path verbatim (for hostile names)
}

// Package describes a binary package to build and publish.
type Package struct {
	Name, Version string
	Arch          string // default amd64
	Depends       string
	PreDepends    string
	Provides      string
	Conflicts     string
	Breaks        string
	Priority      string // default optional
	Essential     bool
	Files         []File
	Compression   string // data.tar compression: xz (default), gz, zst, none
	Deb           []byte // when set, served instead of a built .deb
}

// BuildDeb makes a .deb (ar archive of debian-binary, control.tar.gz and
// data.tar.*).
func BuildDeb(p Package) ([]byte, error) {
	if p.Arch == "" {
		p.Arch = "amd64"
	}
	var control bytes.Buffer
	fmt.Fprintf(&control, "Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: test <test@example.invalid>\n", p.Name, p.Version, p.Arch)
	if p.Depends != "" {
		fmt.Fprintf(&control, "Depends: %s\n", p.Depends)
	}
	fmt.Fprintf(&control, "Description: test package %s\n", p.Name)
	ctar, err := tarGz([]File{{Path: "control", Body: control.String()}})
	if err != nil {
		return nil, err
	}
	data, ext, err := dataTar(p.Files, p.Compression)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	arMember(&b, "debian-binary", []byte("2.0\n"))
	arMember(&b, "control.tar.gz", ctar)
	arMember(&b, "data.tar"+ext, data)
	return b.Bytes(), nil
}

func arMember(b *bytes.Buffer, name string, data []byte) {
	fmt.Fprintf(b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 0, 0, 0, "100644", len(data))
	b.Write(data)
	if len(data)%2 == 1 {
		b.WriteByte('\n')
	}
}

func tarGz(files []File) ([]byte, error) {
	raw, err := tarBytes(files)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func dataTar(files []File, comp string) ([]byte, string, error) {
	raw, err := tarBytes(withParents(files))
	if err != nil {
		return nil, "", err
	}
	var b bytes.Buffer
	switch comp {
	case "", "xz":
		w, err := xz.NewWriter(&b)
		if err != nil {
			return nil, "", err
		}
		if _, err := w.Write(raw); err != nil {
			return nil, "", err
		}
		if err := w.Close(); err != nil {
			return nil, "", err
		}
		return b.Bytes(), ".xz", nil
	case "gz":
		w := gzip.NewWriter(&b)
		if _, err := w.Write(raw); err != nil {
			return nil, "", err
		}
		if err := w.Close(); err != nil {
			return nil, "", err
		}
		return b.Bytes(), ".gz", nil
	case "zst":
		w, err := zstd.NewWriter(&b)
		if err != nil {
			return nil, "", err
		}
		if _, err := w.Write(raw); err != nil {
			return nil, "", err
		}
		if err := w.Close(); err != nil {
			return nil, "", err
		}
		return b.Bytes(), ".zst", nil
	case "none":
		return raw, "", nil
	}
	return nil, "", fmt.Errorf("unknown compression %q", comp)
}

// withParents adds the directory entries dpkg-deb would write.
func withParents(files []File) []File {
	seen := map[string]bool{}
	var out []File
	out = append(out, File{Path: ".", Type: tar.TypeDir})
	for _, f := range files {
		if !f.Raw {
			dir := path.Dir(strings.Trim(f.Path, "/"))
			var chain []string
			for dir != "." && dir != "/" && !seen[dir] {
				seen[dir] = true
				chain = append([]string{dir}, chain...)
				dir = path.Dir(dir)
			}
			for _, d := range chain {
				out = append(out, File{Path: d, Type: tar.TypeDir})
			}
		}
		out = append(out, f)
	}
	return out
}

func tarBytes(files []File) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		name := f.Path
		if !f.Raw {
			name = "./" + strings.Trim(f.Path, "/")
			if f.Path == "." {
				name = "./"
			}
		}
		typ := f.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		if typ == tar.TypeDir && !strings.HasSuffix(name, "/") {
			name += "/"
		}
		hdr := &tar.Header{Name: name, Mode: mode, Typeflag: typ, Linkname: f.Link, ModTime: time.Unix(1700000000, 0), Uname: "root", Gname: "root", Format: tar.FormatGNU}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(f.Body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if typ == tar.TypeReg {
			if _, err := io.WriteString(tw, f.Body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Archive is a signed archive served on 127.0.0.1.
type Archive struct {
	URL     string // archive root
	Keyring string // file with the public key that signs InRelease
	Dir     string // where the keyring lives

	entity   *openpgp.Entity
	srv      *httptest.Server
	mu       sync.Mutex
	files    map[string][]byte
	requests atomic.Int64
}

// NewKey makes a throw-away signing key (Ed25519: fast).
func NewKey() (*openpgp.Entity, error) {
	return openpgp.NewEntity("hbuild test archive", "", "archive@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
}

// New starts an empty archive; Publish adds suites.
func New(t testing.TB) *Archive {
	t.Helper()
	e, err := NewKey()
	if err != nil {
		t.Fatalf("make key: %v", err)
	}
	a := &Archive{entity: e, files: map[string][]byte{}, Dir: t.TempDir()}
	a.Keyring = filepath.Join(a.Dir, "archive.gpg")
	if err := WriteKeyring(e, a.Keyring); err != nil {
		t.Fatal(err)
	}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	a.URL = a.srv.URL + "/debian"
	return a
}

// WriteKeyring writes e's public key as a binary keyring.
func WriteKeyring(e *openpgp.Entity, path string) error {
	var b bytes.Buffer
	if err := e.Serialize(&b); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func (a *Archive) serve(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	p := strings.TrimPrefix(r.URL.Path, "/debian/")
	a.mu.Lock()
	data, ok := a.files[p]
	a.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	_, _ = w.Write(data)
}

// Requests is how many HTTP requests the archive has answered.
func (a *Archive) Requests() int64 { return a.requests.Load() }

// Set replaces (or adds) the file served at path (relative to the root).
func (a *Archive) Set(p string, data []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.files[p] = data
}

// Get returns the file served at path.
func (a *Archive) Get(p string) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.files[p]
}

// Remove stops serving path.
func (a *Archive) Remove(p string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.files, p)
}

// Source is a source package to publish: its upstream tarball and a .dsc.
type Source struct {
	Name, Version string // Debian version, e.g. 1.0-1
	Upstream      []byte // the .orig.tar.gz
}

// PoolPath is where a package's .deb is published.
func PoolPath(p Package) string {
	arch := p.Arch
	if arch == "" {
		arch = "amd64"
	}
	v := p.Version
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[i+1:]
	}
	return fmt.Sprintf("pool/main/%s/%s/%s_%s_%s.deb", p.Name[:1], p.Name, p.Name, v, arch)
}

// Publish builds every package, writes the suite's Packages (gz and xz),
// Sources and a signed InRelease listing them.
func (a *Archive) Publish(suite string, pkgs []Package, srcs []Source) error {
	var idx bytes.Buffer
	sorted := append([]Package(nil), pkgs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, p := range sorted {
		deb := p.Deb
		if deb == nil {
			var err error
			if deb, err = BuildDeb(p); err != nil {
				return fmt.Errorf("build %s: %w", p.Name, err)
			}
		}
		pool := PoolPath(p)
		a.Set(pool, deb)
		arch := p.Arch
		if arch == "" {
			arch = "amd64"
		}
		prio := p.Priority
		if prio == "" {
			prio = "optional"
		}
		fmt.Fprintf(&idx, "Package: %s\nVersion: %s\nArchitecture: %s\n", p.Name, p.Version, arch)
		if p.Essential {
			idx.WriteString("Essential: yes\n")
		}
		for _, f := range [][2]string{{"Pre-Depends", p.PreDepends}, {"Depends", p.Depends}, {"Provides", p.Provides}, {"Conflicts", p.Conflicts}, {"Breaks", p.Breaks}} {
			if f[1] != "" {
				fmt.Fprintf(&idx, "%s: %s\n", f[0], f[1])
			}
		}
		sum := sha256.Sum256(deb)
		fmt.Fprintf(&idx, "Priority: %s\nFilename: %s\nSize: %d\nSHA256: %s\nDescription: test package\n This is %s.\n\n",
			prio, pool, len(deb), hex.EncodeToString(sum[:]), p.Name)
	}
	var src bytes.Buffer
	for _, s := range srcs {
		upv := s.Version
		if i := strings.IndexByte(upv, ':'); i >= 0 {
			upv = upv[i+1:]
		}
		debv := upv
		if i := strings.LastIndexByte(upv, '-'); i >= 0 {
			upv = upv[:i]
		}
		dir := fmt.Sprintf("pool/main/%s/%s", s.Name[:1], s.Name)
		orig := fmt.Sprintf("%s_%s.orig.tar.gz", s.Name, upv)
		a.Set(dir+"/"+orig, s.Upstream)
		osum := sha256.Sum256(s.Upstream)
		dsc := fmt.Sprintf("Format: 3.0 (quilt)\nSource: %s\nVersion: %s\nChecksums-Sha256:\n %s %d %s\n", s.Name, s.Version, hex.EncodeToString(osum[:]), len(s.Upstream), orig)
		var signed bytes.Buffer
		if err := a.clearsign(&signed, []byte(dsc)); err != nil {
			return err
		}
		dscName := fmt.Sprintf("%s_%s.dsc", s.Name, debv)
		a.Set(dir+"/"+dscName, signed.Bytes())
		dsum := sha256.Sum256(signed.Bytes())
		fmt.Fprintf(&src, "Package: %s\nVersion: %s\nDirectory: %s\nChecksums-Sha256:\n %s %d %s\n %s %d %s\n\n", s.Name, s.Version, dir,
			hex.EncodeToString(dsum[:]), signed.Len(), dscName, hex.EncodeToString(osum[:]), len(s.Upstream), orig)
	}
	base := "dists/" + suite + "/"
	entries := map[string][]byte{}
	entries["main/binary-amd64/Packages"] = idx.Bytes()
	gz, err := gzBytes(idx.Bytes())
	if err != nil {
		return err
	}
	entries["main/binary-amd64/Packages.gz"] = gz
	var xb bytes.Buffer
	xw, err := xz.NewWriter(&xb)
	if err != nil {
		return err
	}
	if _, err := xw.Write(idx.Bytes()); err != nil {
		return err
	}
	if err := xw.Close(); err != nil {
		return err
	}
	entries["main/binary-amd64/Packages.xz"] = xb.Bytes()
	sgz, err := gzBytes(src.Bytes())
	if err != nil {
		return err
	}
	entries["main/source/Sources.gz"] = sgz
	var names []string
	for n, data := range entries {
		names = append(names, n)
		a.Set(base+n, data)
	}
	sort.Strings(names)
	var rel bytes.Buffer
	fmt.Fprintf(&rel, "Origin: Test\nSuite: %s\nCodename: %s\nDate: %s\nArchitectures: amd64\nComponents: main\nSHA256:\n", suite, suite, time.Unix(1700000000, 0).UTC().Format(time.RFC1123))
	for _, n := range names {
		sum := sha256.Sum256(entries[n])
		fmt.Fprintf(&rel, " %s %d %s\n", hex.EncodeToString(sum[:]), len(entries[n]), n)
	}
	var signed bytes.Buffer
	if err := a.clearsign(&signed, rel.Bytes()); err != nil {
		return err
	}
	a.Set(base+"InRelease", signed.Bytes())
	return nil
}

// Resign signs the InRelease of suite again with key (e.g. a stranger's key,
// to test a bad signature) after a test changed it.
func (a *Archive) Resign(suite string, key *openpgp.Entity, text []byte) error {
	var signed bytes.Buffer
	w, err := clearsign.Encode(&signed, key.PrivateKey, nil)
	if err != nil {
		return err
	}
	if _, err := w.Write(text); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	a.Set("dists/"+suite+"/InRelease", signed.Bytes())
	return nil
}

// Key is the archive's signing key.
func (a *Archive) Key() *openpgp.Entity { return a.entity }

func (a *Archive) clearsign(w io.Writer, text []byte) error {
	cw, err := clearsign.Encode(w, a.entity.PrivateKey, nil)
	if err != nil {
		return err
	}
	if _, err := cw.Write(text); err != nil {
		return err
	}
	return cw.Close()
}

func gzBytes(data []byte) ([]byte, error) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
