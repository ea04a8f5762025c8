package pydist

import (
	"bytes"
	"html"
	"net/url"
	"path"
	"strings"
)

// Link is a distribution link found on a find-links page.
type Link struct {
	URL  string // absolute, without fragment
	File File
	// Sums are the digests the fragment names: "sha256", "md5", … -> hex.
	Sums map[string]string
	// RequiresPython is the page's data-requires-python, "" = none.
	RequiresPython string
	// Yanked says the page marks the file with data-yanked.
	Yanked bool
}

var hashNames = map[string]bool{"md5": true, "sha1": true, "sha224": true, "sha256": true, "sha384": true, "sha512": true}

// ParseLinks extracts the <a href> links of an HTML page (a PEP 503 simple
// index page, a project page or a web server's directory listing), resolves
// them against base and keeps those whose last path segment, percent-
// decoded, ParseFilename accepts. Each URL is returned once, in page order.
func ParseLinks(page []byte, base *url.URL) []Link {
	var out []Link
	seen := map[string]bool{}
	lower := bytes.ToLower(page)
	for i := 0; i < len(page); {
		j := bytes.Index(lower[i:], []byte("<a"))
		if j < 0 {
			break
		}
		i += j + 2
		if i < len(page) && !isSpace(page[i]) {
			continue // <abbr>, <area>, …
		}
		attrs, end := parseAttrs(page, i)
		i = end
		href, ok := attrs["href"]
		if !ok {
			continue
		}
		l, ok := makeLink(html.UnescapeString(href), base)
		if !ok || seen[l.URL] {
			continue
		}
		seen[l.URL] = true
		if rp, ok := attrs["data-requires-python"]; ok {
			l.RequiresPython = strings.TrimSpace(html.UnescapeString(rp))
		}
		_, l.Yanked = attrs["data-yanked"]
		out = append(out, l)
	}
	return out
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

// parseAttrs reads the attributes of a tag from page[i:] up to its '>'
// and returns them (names lowercased, values raw) and the offset after it.
func parseAttrs(page []byte, i int) (map[string]string, int) {
	attrs := map[string]string{}
	for i < len(page) {
		for i < len(page) && (isSpace(page[i]) || page[i] == '/') {
			i++
		}
		if i >= len(page) || page[i] == '>' {
			return attrs, i + 1
		}
		start := i
		for i < len(page) && !isSpace(page[i]) && page[i] != '=' && page[i] != '>' {
			i++
		}
		name := strings.ToLower(string(page[start:i]))
		for i < len(page) && isSpace(page[i]) {
			i++
		}
		if i >= len(page) || page[i] != '=' {
			if name != "" {
				attrs[name] = ""
			}
			continue
		}
		i++
		for i < len(page) && isSpace(page[i]) {
			i++
		}
		var value string
		if i < len(page) && (page[i] == '"' || page[i] == '\'') {
			q := page[i]
			end := bytes.IndexByte(page[i+1:], q)
			if end < 0 {
				end = len(page) - i - 1
			}
			value = string(page[i+1 : i+1+end])
			i += end + 2
		} else {
			start := i
			for i < len(page) && !isSpace(page[i]) && page[i] != '>' {
				i++
			}
			value = string(page[start:i])
		}
		if _, dup := attrs[name]; !dup && name != "" {
			attrs[name] = value
		}
	}
	return attrs, i
}

func makeLink(href string, base *url.URL) (Link, bool) {
	ref, err := url.Parse(strings.TrimSpace(href))
	if err != nil {
		return Link{}, false
	}
	u := ref
	if base != nil {
		u = base.ResolveReference(ref)
	}
	if !u.IsAbs() {
		return Link{}, false
	}
	frag := u.Fragment
	u.Fragment, u.RawFragment = "", ""
	f, ok := ParseFilename(path.Base(u.Path))
	if !ok || strings.HasSuffix(u.Path, "/") {
		return Link{}, false
	}
	l := Link{URL: u.String(), File: f}
	for _, kv := range strings.Split(frag, "&") {
		k, v, _ := strings.Cut(kv, "=")
		k = strings.ToLower(k)
		if hashNames[k] && v != "" && isHex(v) {
			if l.Sums == nil {
				l.Sums = map[string]string{}
			}
			l.Sums[k] = strings.ToLower(v)
		}
	}
	return l, true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
