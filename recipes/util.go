package recipes

import (
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// LocationPlaceholder is what a recipe replaces by the part's location in
// every option.
const LocationPlaceholder = "@@LOCATION@@"

// ParseBool reads a buildout boolean: true or false in any case; empty is
// def. Anything else is an error.
func ParseBool(v string, def bool) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return def, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (write true or false)", v)
}

func boolOpt(ctx *Context, opts map[string]string, name string, def bool) (bool, error) {
	b, err := ParseBool(opts[name], def)
	if err != nil {
		return false, optErr(ctx, name, "%v", err)
	}
	return b, nil
}

// splitWS splits on any run of whitespace.
func splitWS(s string) []string { return strings.Fields(s) }

// lines returns the non-blank lines of s, trimmed.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// PyFormat implements the %(name)s and %% subset of Python's % formatting
// that buildout recipes use; any other % sequence is an error.
func PyFormat(s string, vars map[string]string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '(' {
			end := strings.IndexByte(s[i+2:], ')')
			if end >= 0 && i+2+end+1 < len(s) && s[i+2+end+1] == 's' {
				name := s[i+2 : i+2+end]
				v, ok := vars[name]
				if !ok {
					return "", fmt.Errorf("%%(%s)s: no such variable", name)
				}
				b.WriteString(v)
				i = i + 2 + end + 1
				continue
			}
		}
		rest := s[i:]
		if len(rest) > 8 {
			rest = rest[:8] + "..."
		}
		return "", fmt.Errorf("bad %% sequence at %q (write %%%% for a literal %%, %%(name)s for a value)", rest)
	}
	return b.String(), nil
}

// checksums reads md5sum, sha1, sha256 and sha512 options.
func checksums(ctx *Context, opts map[string]string) ([]Checksum, error) {
	var sums []Checksum
	for _, o := range []struct {
		opt, algo string
		n         int
	}{
		{"md5sum", "md5", 32}, {"sha1", "sha1", 40}, {"sha256", "sha256", 64}, {"sha512", "sha512", 128},
	} {
		v := strings.ToLower(strings.TrimSpace(opts[o.opt]))
		if v == "" {
			continue
		}
		if len(v) != o.n || strings.Trim(v, "0123456789abcdef") != "" {
			return nil, optErr(ctx, o.opt, "%q is not a %s checksum (%d hex digits)", v, o.algo, o.n)
		}
		sums = append(sums, Checksum{Algo: o.algo, Hex: v})
	}
	return sums, nil
}

// splitHash splits "file#md5" into the file and its checksum.
func splitHash(ctx *Context, option, v string) (string, []Checksum, error) {
	i := strings.IndexByte(v, '#')
	if i < 0 {
		return v, nil, nil
	}
	h := strings.ToLower(v[i+1:])
	var algo string
	switch len(h) {
	case 32:
		algo = "md5"
	case 64:
		algo = "sha256"
	case 128:
		algo = "sha512"
	default:
		return "", nil, optErr(ctx, option, "%q: the part after # must be an md5 (or sha256/sha512) checksum", v)
	}
	if strings.Trim(h, "0123456789abcdef") != "" {
		return "", nil, optErr(ctx, option, "%q: the part after # is not hexadecimal", v)
	}
	return v[:i], []Checksum{{Algo: algo, Hex: h}}, nil
}

// localOrURL makes a relative local path absolute against the profile's
// directory; URLs are returned as they are.
func localOrURL(ctx *Context, u string) string {
	if strings.Contains(u, "://") || filepath.IsAbs(u) || ctx.BaseDir == "" {
		return u
	}
	return filepath.Join(ctx.BaseDir, u)
}

// baseName is the file name a URL or path ends with.
func baseName(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	b := path.Base(strings.TrimRight(u, "/"))
	if b == "." || b == "/" || b == "" {
		return "source"
	}
	return b
}

// ShellQuote quotes s for /bin/sh.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// replaceLocation replaces @@LOCATION@@ in every option.
func replaceLocation(opts map[string]string, loc string) map[string]string {
	out := make(map[string]string, len(opts))
	for k, v := range opts {
		out[k] = strings.ReplaceAll(v, LocationPlaceholder, loc)
	}
	return out
}

// checkLocation accepts a location option only if it is the placeholder or
// the computed value.
func checkLocation(ctx *Context, opts map[string]string) error {
	v, ok := opts["location"]
	if !ok {
		return nil
	}
	if strings.ReplaceAll(strings.TrimSpace(v), LocationPlaceholder, ctx.Location) != ctx.Location {
		return optErr(ctx, "location", "invalid 'location' value %q: hbuild computes it (%s); write location = @@LOCATION@@ or leave it out", v, ctx.Location)
	}
	return nil
}

// inside reports whether p is dir or under it.
func inside(p, dir string) bool {
	p, dir = path.Clean(p), path.Clean(dir)
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// parseEnvironment reads an environment option: inline KEY=VALUE lines, or
// the name of a section whose options are the variables. Values expand
// %(VAR)s against the base environment (no chaining).
func parseEnvironment(ctx *Context, option, v string) (map[string]string, error) {
	raw := map[string]string{}
	if strings.TrimSpace(v) == "" {
		return raw, nil
	}
	if strings.Contains(v, "=") {
		for _, l := range strings.Split(v, "\n") {
			if strings.TrimSpace(l) == "" {
				continue
			}
			i := strings.IndexByte(l, '=')
			if i < 0 {
				return nil, optErr(ctx, option, "line %q in environment is incorrect: write KEY=VALUE", strings.TrimSpace(l))
			}
			k, val := strings.TrimSpace(l[:i]), strings.TrimLeft(l[i+1:], " \t")
			if _, dup := raw[k]; dup {
				return nil, optErr(ctx, option, "key %q is repeated", k)
			}
			raw[k] = val
		}
	} else {
		name := strings.TrimSpace(v)
		if ctx.Section == nil {
			return nil, optErr(ctx, option, "cannot read section %q", name)
		}
		sec, err := ctx.Section(name)
		if err != nil {
			return nil, optErr(ctx, option, "read environment section %q: %v", name, err)
		}
		for k, val := range sec {
			if strings.HasPrefix(k, "_") {
				continue // _profile_base_location_ and friends are not variables
			}
			raw[k] = val
		}
	}
	out := make(map[string]string, len(raw))
	for k, val := range raw {
		x, err := PyFormat(val, ctx.Env)
		if err != nil {
			return nil, optErr(ctx, option, "%s: %v (only the sandbox's base variables %s can be used)", k, err, strings.Join(sortedKeys(ctx.Env), " "))
		}
		out[k] = x
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// envList turns a map into sorted KEY=VALUE entries.
func envList(m map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(m) {
		out = append(out, k+"="+m[k])
	}
	return out
}

// SplitWords splits a command line the way a POSIX shell would split words
// with single quotes, double quotes and backslashes, or parses a JSON-style
// ["a", "b"] list.
func SplitWords(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		return splitJSONList(s)
	}
	var out []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`+"`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

func splitJSONList(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("parse %q as a JSON list of strings: %w", s, err)
	}
	return out, nil
}
