package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Missing is something a failed build looked for and did not find: a
// header, a library or a *-config program. A build that reaches for a host
// library fails this way, because the sandbox has only the base and the
// declared parts; hbuild names the library so the user knows which part to
// declare.
type Missing struct {
	Kind    string // "header", "library", "pkg-config module" or "program"
	Name    string // libxml/xmlversion.h, -lxml2, xml2-config
	Library string // the library it belongs to, as best known: libxml2
	Host    string // where the host has it ("" if it does not)
	Package string // the host's Debian package that ships Host ("" if unknown)
}

func (m Missing) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", m.Kind, m.Name)
	if m.Library != "" && m.Library != m.Name {
		fmt.Fprintf(&b, " (%s)", m.Library)
	}
	if m.Host != "" {
		fmt.Fprintf(&b, ": the host has it at %s", m.Host)
		if m.Package != "" {
			fmt.Fprintf(&b, " (Debian package %s)", m.Package)
		}
		b.WriteString(", which builds never see")
	}
	return b.String()
}

var (
	reHeader  = regexp.MustCompile(`fatal error: ([^\s:]+\.h(?:pp)?): No such file or directory`)
	reLib     = regexp.MustCompile(`cannot find -l([A-Za-z0-9_.+-]+)`)
	reProgram = regexp.MustCompile(`(?:^|\s)([A-Za-z0-9_.+-]+-config): (?:command )?not found`)
	// "Please make sure the libxml2 and libxslt development packages are
	// installed" (lxml, and setup scripts like it).
	reDevPkgs = regexp.MustCompile(`(?i)make sure (?:that )?(?:the )?([A-Za-z0-9_.+-]+)(?: and ([A-Za-z0-9_.+-]+))? (?:development|devel|dev) (?:packages?|headers|files) (?:is|are) installed`)
	// pkg-config: "Package libxml-2.0 was not found in the pkg-config search path".
	rePkgConfig = regexp.MustCompile(`Package '?([A-Za-z0-9_.+-]+)'?,? (?:required by '[^']*', )?(?:was )?not found`)
)

// diagnoseLog reads the end of a build log and returns what the build
// missed, each once, in the order first seen.
func diagnoseLog(logPath string, hostRoot string) []Missing {
	f, err := os.Open(logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	const window = 4 << 20
	if st, err := f.Stat(); err == nil && st.Size() > window {
		if _, err := f.Seek(st.Size()-window, io.SeekStart); err != nil {
			return nil
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil
	}
	return diagnose(data, hostRoot)
}

func diagnose(log []byte, hostRoot string) []Missing {
	var out []Missing
	seen := map[string]bool{}
	add := func(m Missing) {
		k := m.Kind + " " + m.Name
		if seen[k] || len(out) >= 5 {
			return
		}
		seen[k] = true
		out = append(out, m)
	}
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if m := reHeader.FindStringSubmatch(l); m != nil {
			add(hostLookup(Missing{Kind: "header", Name: m[1]}, hostRoot))
		}
		if m := reLib.FindStringSubmatch(l); m != nil {
			add(hostLookup(Missing{Kind: "library", Name: "-l" + m[1], Library: "lib" + m[1]}, hostRoot))
		}
		if m := reProgram.FindStringSubmatch(l); m != nil {
			add(hostLookup(Missing{Kind: "program", Name: m[1]}, hostRoot))
		}
		if m := reDevPkgs.FindStringSubmatch(l); m != nil {
			for _, n := range m[1:] {
				if n != "" {
					add(hostLookup(Missing{Kind: "library", Name: n, Library: n}, hostRoot))
				}
			}
		}
		if m := rePkgConfig.FindStringSubmatch(l); m != nil {
			add(hostLookup(Missing{Kind: "pkg-config module", Name: m[1], Library: m[1]}, hostRoot))
		}
	}
	return out
}

// hostLookup finds where the host has what the sandbox missed, and the
// Debian package that ships it: the clearest way to name a library.
func hostLookup(m Missing, root string) Missing {
	var cands []string
	switch m.Kind {
	case "header":
		for _, d := range []string{"/usr/include", "/usr/local/include", "/usr/include/x86_64-linux-gnu"} {
			cands = append(cands, filepath.Join(d, m.Name))
		}
		if subs, err := filepath.Glob(filepath.Join(root, "usr/include/*", m.Name)); err == nil {
			for _, s := range subs {
				cands = append(cands, strings.TrimPrefix(s, strings.TrimSuffix(root, "/")))
			}
		}
	case "library":
		n := strings.TrimPrefix(m.Name, "-l")
		if !strings.HasPrefix(m.Name, "-l") {
			n = strings.TrimPrefix(n, "lib") // libxml2 -> libxml2.so
		}
		for _, d := range []string{"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib", "/usr/local/lib"} {
			cands = append(cands, filepath.Join(d, "lib"+n+".so"), filepath.Join(d, "lib"+n+".a"))
		}
	case "pkg-config module":
		for _, d := range []string{"/usr/lib/x86_64-linux-gnu/pkgconfig", "/usr/share/pkgconfig", "/usr/lib/pkgconfig"} {
			cands = append(cands, filepath.Join(d, m.Name+".pc"))
		}
	case "program":
		for _, d := range []string{"/usr/bin", "/usr/local/bin", "/bin"} {
			cands = append(cands, filepath.Join(d, m.Name))
		}
	}
	for _, c := range cands {
		if _, err := os.Stat(filepath.Join(root, c)); err == nil {
			m.Host = c
			break
		}
	}
	if m.Host != "" {
		m.Package = dpkgOwner(root, m.Host)
	}
	if m.Package != "" && m.Library == "" || m.Kind == "pkg-config module" && m.Package != "" {
		m.Library = strings.TrimSuffix(strings.TrimSuffix(m.Package, ":amd64"), "-dev")
	}
	if m.Library == "" && m.Kind == "header" {
		if dir, _, ok := strings.Cut(m.Name, "/"); ok {
			m.Library = dir
		}
	}
	return m
}

// dpkgOwner is the Debian package whose file list names p, or "".
func dpkgOwner(root, p string) string {
	lists, err := filepath.Glob(filepath.Join(root, "var/lib/dpkg/info/*.list"))
	if err != nil {
		return ""
	}
	sort.Strings(lists)
	// Also match through the usr-merge symlinks (/lib -> /usr/lib).
	alt := p
	if strings.HasPrefix(p, "/usr/") {
		alt = strings.TrimPrefix(p, "/usr")
	} else {
		alt = "/usr" + p
	}
	for _, l := range lists {
		data, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line == p || line == alt {
				return strings.TrimSuffix(filepath.Base(l), ".list")
			}
		}
	}
	return ""
}
