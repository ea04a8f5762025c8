package debian

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultKeyring is the keyring that verifies Debian's archives when neither
// the profile nor the apt source names one.
const DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// Mirror is one apt source: an archive root and the suites and components
// taken from it.
type Mirror struct {
	Type       string   // "deb" or "deb-src"
	URI        string   // archive root, without a trailing slash
	Suites     []string // e.g. bookworm bookworm-updates
	Components []string // e.g. main
	Keyring    string   // Signed-By when it names a file; "" = DefaultKeyring
	File       string   // where the source was read
	Line       int
}

// HostSourcesFiles lists the apt source files of the host in apt's order.
func HostSourcesFiles(root string) []string {
	var files []string
	main := filepath.Join(root, "etc/apt/sources.list")
	if _, err := os.Stat(main); err == nil {
		files = append(files, main)
	}
	dir := filepath.Join(root, "etc/apt/sources.list.d")
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".sources") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, filepath.Join(dir, n))
	}
	return files
}

// MirrorsFromHost returns the host's apt sources of type deb, in the order
// apt reads them (/etc/apt/sources.list, then sources.list.d/*.list and
// *.sources sorted by name).
func MirrorsFromHost() ([]Mirror, error) {
	all, err := MirrorsFromRoot("/")
	if err != nil {
		return nil, err
	}
	var debs []Mirror
	for _, m := range all {
		if m.Type == "deb" {
			debs = append(debs, m)
		}
	}
	if len(debs) == 0 {
		return nil, errors.New("read apt sources: the host has no deb source in /etc/apt/sources.list or /etc/apt/sources.list.d (set mirror = in the profile)")
	}
	return debs, nil
}

// MirrorsFromRoot reads every apt source below root (deb and deb-src).
func MirrorsFromRoot(root string) ([]Mirror, error) {
	var out []Mirror
	for _, f := range HostSourcesFiles(root) {
		ms, err := readSourcesFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

func readSourcesFile(path string) ([]Mirror, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read apt sources: %w", err)
	}
	defer f.Close()
	if strings.HasSuffix(path, ".sources") {
		return ParseDeb822Sources(f, path)
	}
	return ParseSourcesList(f, path)
}

// ParseSourcesList parses the one-line format of sources.list:
//
//	deb [signed-by=/path arch=amd64] URI SUITE COMPONENT...
func ParseSourcesList(r io.Reader, name string) ([]Mirror, error) {
	var out []Mirror
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		m := Mirror{Type: fields[0], File: name, Line: n}
		if m.Type != "deb" && m.Type != "deb-src" {
			return nil, fmt.Errorf("%s:%d: unknown source type %q (want deb or deb-src)", name, n, m.Type)
		}
		fields = fields[1:]
		if len(fields) > 0 && strings.HasPrefix(fields[0], "[") {
			var opts []string
			for len(fields) > 0 {
				f := fields[0]
				fields = fields[1:]
				end := strings.HasSuffix(f, "]")
				f = strings.TrimSuffix(strings.TrimPrefix(f, "["), "]")
				if f != "" {
					opts = append(opts, f)
				}
				if end {
					break
				}
			}
			for _, o := range opts {
				k, v, _ := strings.Cut(o, "=")
				if strings.EqualFold(k, "signed-by") && strings.HasPrefix(v, "/") {
					m.Keyring = v
				}
			}
		}
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s:%d: a source needs a URI and a suite", name, n)
		}
		m.URI = strings.TrimRight(fields[0], "/")
		m.Suites = []string{fields[1]}
		m.Components = fields[2:]
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}

// ParseDeb822Sources parses the deb822 format of *.sources files.
func ParseDeb822Sources(r io.Reader, name string) ([]Mirror, error) {
	var out []Mirror
	err := ReadParagraphs(r, nil, func(p Paragraph, line int) error {
		if strings.EqualFold(p.Get("Enabled"), "no") {
			return nil
		}
		types := strings.Fields(p.Get("Types"))
		uris := strings.Fields(p.Get("URIs"))
		suites := strings.Fields(p.Get("Suites"))
		if len(types) == 0 || len(uris) == 0 || len(suites) == 0 {
			return fmt.Errorf("%s:%d: a source needs Types, URIs and Suites", name, line)
		}
		keyring := ""
		if sb := strings.TrimSpace(p.Get("Signed-By")); strings.HasPrefix(sb, "/") && !strings.ContainsAny(sb, " \n") {
			keyring = sb
		}
		for _, t := range types {
			if t != "deb" && t != "deb-src" {
				return fmt.Errorf("%s:%d: unknown source type %q (want deb or deb-src)", name, line, t)
			}
			for _, u := range uris {
				out = append(out, Mirror{
					Type: t, URI: strings.TrimRight(u, "/"), Suites: suites,
					Components: strings.Fields(p.Get("Components")),
					Keyring:    keyring, File: name, Line: line,
				})
			}
		}
		return nil
	})
	return out, err
}

// DefaultMirror returns the host's first deb source: the archive that
// resolution uses when the profile names no mirror.
func DefaultMirror() (Mirror, error) {
	ms, err := MirrorsFromHost()
	if err != nil {
		return Mirror{}, err
	}
	return ms[0], nil
}
