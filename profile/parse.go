package profile

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// rawOption is one option as written in one file: its value after the
// parser's normalisation and the line where it starts.
type rawOption struct {
	value string
	line  int

	// prior holds, in flattened mode, the normalised values of earlier
	// occurrences of the same operator key in the section (hasPrior).
	prior    string
	hasPrior bool
}

// parsedSection is one section of one file, options keyed as written
// (operators included: "x +", "x -", "<").
type parsedSection struct {
	opts map[string]rawOption
	line int // first header line
}

// parsedFile is one file after the line parser: no extends resolved.
type parsedFile struct {
	sections map[string]*parsedSection
}

// condFunc evaluates a conditional section expression.
type condFunc func(expr string) (bool, error)

// isSpace reports whether r is whitespace for Python's str.isspace (which
// zc.buildout's parser uses): Go's unicode.IsSpace plus the ASCII
// separators 0x1c-0x1f.
func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		switch r {
		case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f:
			return true
		}
		return false
	}
	return unicode.IsSpace(r)
}

// pyStrip, pyLStrip and pyRStrip are Python's str.strip family.
func pyStrip(s string) string { return pyLStrip(pyRStrip(s)) }

func pyLStrip(s string) string {
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if !isSpace(r) {
			break
		}
		s = s[n:]
	}
	return s
}

func pyRStrip(s string) string {
	for len(s) > 0 {
		r, n := utf8.DecodeLastRuneInString(s)
		if !isSpace(r) {
			break
		}
		s = s[:len(s)-n]
	}
	return s
}

func firstRune(s string) rune {
	if s == "" {
		return '\n' // an empty line read with its newline
	}
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

// splitLines splits src with Python's universal newlines: "\r\n", "\r" and
// "\n" end a line; the terminators are dropped.
func splitLines(src string) []string {
	n := strings.Count(src, "\n") + strings.Count(src, "\r") + 1
	lines := make([]string, 0, n)
	start := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '\n':
			lines = append(lines, src[start:i])
			start = i + 1
		case '\r':
			lines = append(lines, src[start:i])
			if i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(src) {
		lines = append(lines, src[start:])
	}
	return lines
}

// isNameByte reports whether c may appear in a section name of a header.
func headerNameChar(r rune) bool {
	switch r {
	case '#', '[', ']', ':', ';', '{', '}':
		return false
	}
	return !isSpace(r)
}

// optionNameChar reports whether r may appear in an option name.
func optionNameChar(r rune) bool {
	switch r {
	case '{', '}', '[', ']', '=', ':':
		return false
	}
	return !isSpace(r)
}

// skipSpace returns the index of the first non-space rune of s at or after i.
func skipSpace(s string, i int) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isSpace(r) {
			break
		}
		i += n
	}
	return i
}

// isAllSpace reports whether s contains only whitespace.
func isAllSpace(s string) bool { return pyLStrip(s) == "" }

// matchHeader matches a section header line (without its newline) as
// zc.buildout's regular expression
// `\[\s*NAME\s*(:EXPR)?\s*]\s*([#;].*)?$` does.
func matchHeader(line string) (name, expr string, hasExpr, ok bool) {
	if line == "" || line[0] != '[' {
		return "", "", false, false
	}
	i := skipSpace(line, 1)
	j := i
	for j < len(line) {
		r, n := utf8.DecodeRuneInString(line[j:])
		if !headerNameChar(r) {
			break
		}
		j += n
	}
	if j == i {
		return "", "", false, false
	}
	name = line[i:j]
	k := skipSpace(line, j)
	if k >= len(line) {
		return "", "", false, false
	}
	switch line[k] {
	case ']':
		if !tailOK(line[k+1:]) {
			return "", "", false, false
		}
		return name, "", false, true
	case ':':
		rest := line[k+1:]
		end := strings.IndexAny(rest, "#;")
		if end < 0 {
			end = len(rest)
		}
		p := strings.LastIndexByte(rest[:end], ']')
		if p < 0 || !isAllSpace(rest[p+1:end]) {
			return "", "", false, false
		}
		return name, rest[:p], true, true
	}
	return "", "", false, false
}

// tailOK reports whether what follows a header's "]" is whitespace and an
// optional comment.
func tailOK(s string) bool {
	s = pyLStrip(s)
	return s == "" || s[0] == '#' || s[0] == ';'
}

// matchOption matches an option line as `^NAME\s*[-+]?=VALUE$`, returning
// the key (name plus operator, right-stripped) and the stripped value.
func matchOption(line string) (key, value string, ok bool) {
	j := 0
	for j < len(line) {
		r, n := utf8.DecodeRuneInString(line[j:])
		if !optionNameChar(r) {
			break
		}
		j += n
	}
	if j == 0 {
		return "", "", false
	}
	k := skipSpace(line, j)
	if k < len(line) && (line[k] == '+' || line[k] == '-') {
		k++
	}
	if k >= len(line) || line[k] != '=' {
		return "", "", false
	}
	return pyRStrip(line[:k]), pyStrip(line[k+1:]), true
}

// parseFile parses one file's text as zc.buildout 2.13 does (a repeated
// key replaces the earlier one). name is used in errors.
func parseFile(name, src string, cond condFunc) (*parsedFile, error) {
	return parseFileMode(name, src, cond, false)
}

// normalizeValue is the end-of-file normalisation of one value (§2.1).
func normalizeValue(v string) string {
	if v != "" && isSpace(firstRune(v)) {
		return removeLeadingBlankLines(dedent(pyRStrip(v)))
	}
	return v
}

// parseFileMode is parseFile; with flat it follows zc.buildout HEAD
// (spec §2.2): a repeated `+=`/`-=` key in one section appends its lines
// to the earlier occurrence (each occurrence normalised first, unlike
// upstream, which joins the raw text), and a plain `x = v` after `x +=`
// or `x -=` drops the pending operators on x (every spelling, where
// upstream drops only "x +" and "x -").
func parseFileMode(name, src string, cond condFunc, flat bool) (*parsedFile, error) {
	pf := &parsedFile{sections: make(map[string]*parsedSection)}
	var (
		cursect   *parsedSection
		condition = true
		blockmode bool
		optname   string
		badLines  []int
		badText   []string
	)
	lines := splitLines(src)
	for idx, line := range lines {
		lineno := idx + 1
		c := firstRune(line)
		if c == '#' || c == ';' {
			continue
		}
		if isSpace(c) && cursect != nil && optname != "" {
			if !condition {
				continue
			}
			if blockmode {
				line = pyRStrip(line)
			} else {
				line = pyStrip(line)
				if line == "" {
					continue
				}
			}
			o := cursect.opts[optname]
			o.value = o.value + "\n" + line
			cursect.opts[optname] = o
			continue
		}
		if sname, expr, hasExpr, ok := matchHeader(line); ok {
			condition = true
			if hasExpr && expr != "" {
				e := strings.ReplaceAll(strings.ReplaceAll(expr, `\x23`, "#"), `\x3b`, ";")
				v, err := cond(e)
				if err != nil {
					return nil, &Error{File: name, Line: lineno, Section: sname,
						Msg: fmt.Sprintf("bad condition %q in section header: %v; write a supported expression (see the profile package documentation)", e, err)}
				}
				condition = v
				if !v {
					continue
				}
			}
			s := pf.sections[sname]
			if s == nil {
				s = &parsedSection{opts: make(map[string]rawOption), line: lineno}
				pf.sections[sname] = s
			}
			cursect = s
			optname = ""
			continue
		}
		if cursect == nil {
			if isAllSpace(line) {
				continue
			}
			return nil, &Error{File: name, Line: lineno,
				Msg: fmt.Sprintf("line %q comes before any section header; start the file with a [section] header (an unconditional one)", line)}
		}
		if strings.HasPrefix(line, "=>") {
			line = "<part-dependencies> = " + line[2:]
		}
		if key, val, ok := matchOption(line); ok {
			if !condition {
				continue
			}
			optname = key
			ro := rawOption{value: val, line: lineno}
			if flat {
				if _, op := opBase(key); op != 0 {
					if old, ok := cursect.opts[key]; ok {
						ro.line = old.line
						ro.prior, ro.hasPrior = joinOccurrence(old.prior, old.hasPrior, normalizeValue(old.value)), true
					}
				} else {
					for k := range cursect.opts {
						if b, op := opBase(k); op != 0 && b == key {
							delete(cursect.opts, k)
						}
					}
				}
			}
			cursect.opts[key] = ro
			blockmode = val == ""
			continue
		}
		if optname == "" && isAllSpace(line) {
			continue
		}
		badLines = append(badLines, lineno)
		badText = append(badText, line)
	}
	if len(badLines) > 0 {
		msg := fmt.Sprintf("syntax error in line %q: write options as \"name = value\" (no spaces in names, an operator must touch the \"=\": \"name += value\") and indent continuation lines", badText[0])
		if len(badLines) > 1 {
			more := make([]string, 0, len(badLines)-1)
			for _, l := range badLines[1:] {
				more = append(more, strconv.Itoa(l))
			}
			msg += "; more syntax errors in lines " + strings.Join(more, ", ")
		}
		return nil, &Error{File: name, Line: badLines[0], Msg: msg}
	}
	for _, s := range pf.sections {
		for k, o := range s.opts {
			if o.value != "" && isSpace(firstRune(o.value)) {
				o.value = normalizeValue(o.value)
				s.opts[k] = o
			}
			if o.hasPrior {
				o.value = joinOccurrence(o.prior, true, o.value)
				o.prior, o.hasPrior = "", false
				s.opts[k] = o
			}
		}
	}
	return pf, nil
}

// joinOccurrence appends the lines of a repeated operator's value v to the
// earlier ones (an empty repeated value adds nothing).
func joinOccurrence(prior string, hasPrior bool, v string) string {
	if !hasPrior {
		return v
	}
	if v == "" {
		return prior
	}
	return prior + "\n" + v
}

// dedent is Python's textwrap.dedent.
func dedent(text string) string {
	lines := strings.Split(text, "\n")
	margin := ""
	haveMargin := false
	for i, l := range lines {
		ws := 0
		for ws < len(l) && (l[ws] == ' ' || l[ws] == '\t') {
			ws++
		}
		if ws == len(l) {
			lines[i] = "" // whitespace-only lines become empty
			continue
		}
		indent := l[:ws]
		switch {
		case !haveMargin:
			margin, haveMargin = indent, true
		case strings.HasPrefix(indent, margin):
		case strings.HasPrefix(margin, indent):
			margin = indent
		default:
			n := 0
			for n < len(margin) && n < len(indent) && margin[n] == indent[n] {
				n++
			}
			margin = margin[:n]
		}
	}
	if margin != "" {
		for i, l := range lines {
			lines[i] = strings.TrimPrefix(l, margin)
		}
	}
	return strings.Join(lines, "\n")
}

// removeLeadingBlankLines removes `^(\s*\n)+`.
func removeLeadingBlankLines(s string) string {
	ws := len(s) - len(pyLStrip(s))
	if i := strings.LastIndexByte(s[:ws], '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
