package profile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// Conditional section headers `[name:expression]` are evaluated here. Like
// zc.buildout 3, an expression is first read as a PEP 508 environment marker
// (`python_version >= "3.8"`, `sys_platform == "linux"`) and otherwise as a
// Python expression over the globals zc.buildout provides. hbuild has no
// Python interpreter: it evaluates a subset of Python (names, attributes,
// calls of a fixed set of functions and string methods, subscripts and
// slices, tuples, lists and list comprehensions, `not`/`and`/`or`,
// comparisons including chained ones and `in`/`not in`/`is`, `+`, `-`, `*`,
// `%`, conditional expressions) over a fixed target: CPython 3.11.7 on
// 64-bit little-endian Linux, the machine type of the host. Host queries
// (platform.release(), platform.freedesktop_os_release(), os.path.isdir,
// os.access, open(...).read()) read the host, as zc.buildout does.

// Target describes the Python that conditional expressions see.
const (
	targetPythonVersion = "3.11.7"
	targetPythonMajor   = 3
	targetPythonMinor   = 11
	targetPythonMicro   = 7
)

// pyTuple is a Python tuple; []any is a list.
type pyTuple []any

// pyNone is Python's None.
type pyNoneType struct{}

var pyNone = pyNoneType{}

// pyModule is a module or other object with attributes.
type pyModule struct {
	name  string
	attrs map[string]any
}

// pyFunc is a callable.
type pyFunc func(args []any) (any, error)

// pyFile is the result of open().
type pyFile struct{ path string }

func machine() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i686"
	case "arm":
		return "armv7l"
	case "riscv64", "ppc64le", "s390x", "ppc64", "mips64", "loong64":
		return runtime.GOARCH
	}
	return runtime.GOARCH
}

func hostRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func osRelease() (map[string]any, error) {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		m := map[string]any{}
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
			if !ok || strings.HasPrefix(k, "#") {
				continue
			}
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			} else {
				v = strings.Trim(v, `"'`)
			}
			m[k] = v
		}
		return m, nil
	}
	return nil, errors.New("OSError: no os-release file")
}

func fn0(v func() any) pyFunc {
	return func(args []any) (any, error) {
		if len(args) != 0 {
			return nil, errors.New("TypeError: takes no arguments")
		}
		return v(), nil
	}
}

func strArg(args []any, i int) (string, error) {
	if i >= len(args) {
		return "", errors.New("TypeError: missing argument")
	}
	s, ok := args[i].(string)
	if !ok {
		return "", fmt.Errorf("TypeError: expected str, got %s", typeName(args[i]))
	}
	return s, nil
}

// conditionGlobals returns the names a Python-style condition sees.
func conditionGlobals() map[string]any {
	path := &pyModule{name: "os.path", attrs: map[string]any{
		"exists": pyFunc(func(a []any) (any, error) {
			p, err := strArg(a, 0)
			if err != nil {
				return nil, err
			}
			_, err = os.Stat(p)
			return err == nil, nil
		}),
		"isdir": pyFunc(func(a []any) (any, error) {
			p, err := strArg(a, 0)
			if err != nil {
				return nil, err
			}
			st, err := os.Stat(p)
			return err == nil && st.IsDir(), nil
		}),
		"isfile": pyFunc(func(a []any) (any, error) {
			p, err := strArg(a, 0)
			if err != nil {
				return nil, err
			}
			st, err := os.Stat(p)
			return err == nil && st.Mode().IsRegular(), nil
		}),
	}}
	osmod := &pyModule{name: "os", attrs: map[string]any{
		"name": "posix", "sep": "/", "path": path,
		"F_OK": int64(0), "X_OK": int64(1), "W_OK": int64(2), "R_OK": int64(4),
		"access": pyFunc(func(a []any) (any, error) {
			p, err := strArg(a, 0)
			if err != nil {
				return nil, err
			}
			_, err = os.Stat(p)
			return err == nil, nil
		}),
	}}
	sys := &pyModule{name: "sys", attrs: map[string]any{
		"platform":     "linux",
		"version_info": pyTuple{int64(targetPythonMajor), int64(targetPythonMinor), int64(targetPythonMicro), "final", int64(0)},
		"version":      targetPythonVersion + " (main) [GCC]",
		"byteorder":    "little",
		"maxsize":      int64(1<<63 - 1),
		"implementation": &pyModule{name: "implementation", attrs: map[string]any{
			"name": "cpython",
		}},
	}}
	platform := &pyModule{name: "platform", attrs: map[string]any{
		"machine":               fn0(func() any { return machine() }),
		"system":                fn0(func() any { return "Linux" }),
		"python_version":        fn0(func() any { return targetPythonVersion }),
		"python_implementation": fn0(func() any { return "CPython" }),
		"python_version_tuple": fn0(func() any {
			return pyTuple{strconv.Itoa(targetPythonMajor), strconv.Itoa(targetPythonMinor), strconv.Itoa(targetPythonMicro)}
		}),
		"release": fn0(func() any { return hostRelease() }),
		"freedesktop_os_release": pyFunc(func(a []any) (any, error) {
			return osRelease()
		}),
	}}
	re := &pyModule{name: "re", attrs: map[string]any{
		"match":  pyFunc(func(a []any) (any, error) { return reCall(a, true) }),
		"search": pyFunc(func(a []any) (any, error) { return reCall(a, false) }),
	}}
	g := map[string]any{
		"sys": sys, "os": osmod, "platform": platform, "re": re,
		"python2": false, "python3": true,
		"cpython": true, "pypy": false, "jython": false, "ironpython": false,
		"linux": true, "windows": false, "cygwin": false, "solaris": false, "macosx": false,
		"posix": true, "bits32": false, "bits64": true,
		"little_endian": true, "big_endian": false,
		"True": true, "False": false, "None": pyNone,
	}
	for _, v := range []string{"24", "25", "26", "27", "30", "31", "32", "33", "34", "35", "36", "37", "38", "39",
		"310", "311", "312", "313", "314", "315"} {
		g["python"+v] = v == strconv.Itoa(targetPythonMajor)+strconv.Itoa(targetPythonMinor)
	}
	for name, f := range builtins {
		g[name] = f
	}
	return g
}

func reCall(a []any, anchored bool) (any, error) {
	pat, err := strArg(a, 0)
	if err != nil {
		return nil, err
	}
	s, err := strArg(a, 1)
	if err != nil {
		return nil, err
	}
	if anchored {
		pat = `^(?:` + pat + `)`
	}
	rx, err := regexp.Compile(pat)
	if err != nil {
		return nil, fmt.Errorf("re.error: %v", err)
	}
	if m := rx.FindString(s); m != "" || rx.MatchString(s) {
		return m, nil // a match object is truthy; its text stands in for it
	}
	return pyNone, nil
}

var builtins map[string]pyFunc

func init() {
	builtins = map[string]pyFunc{
		"int": func(a []any) (any, error) {
			if len(a) != 1 {
				return nil, errors.New("TypeError: int() takes one argument here")
			}
			switch v := a[0].(type) {
			case int64:
				return v, nil
			case bool:
				if v {
					return int64(1), nil
				}
				return int64(0), nil
			case string:
				n, err := strconv.ParseInt(pyStrip(v), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("ValueError: invalid literal for int(): %q", v)
				}
				return n, nil
			}
			return nil, fmt.Errorf("TypeError: int() of %s", typeName(a[0]))
		},
		"str": func(a []any) (any, error) {
			if len(a) != 1 {
				return nil, errors.New("TypeError: str() takes one argument here")
			}
			return pyStr(a[0]), nil
		},
		"len": func(a []any) (any, error) {
			if len(a) != 1 {
				return nil, errors.New("TypeError: len() takes one argument")
			}
			switch v := a[0].(type) {
			case string:
				return int64(len([]rune(v))), nil
			case pyTuple:
				return int64(len(v)), nil
			case []any:
				return int64(len(v)), nil
			case map[string]any:
				return int64(len(v)), nil
			}
			return nil, fmt.Errorf("TypeError: object of type %s has no len()", typeName(a[0]))
		},
		"chr": func(a []any) (any, error) {
			if len(a) != 1 {
				return nil, errors.New("TypeError: chr() takes one argument")
			}
			n, ok := a[0].(int64)
			if !ok || n < 0 || n > 0x10ffff {
				return nil, errors.New("ValueError: chr() arg not in range")
			}
			return string(rune(n)), nil
		},
		"ord": func(a []any) (any, error) {
			s, err := strArg(a, 0)
			if err != nil {
				return nil, err
			}
			r := []rune(s)
			if len(r) != 1 {
				return nil, errors.New("TypeError: ord() expected a character")
			}
			return int64(r[0]), nil
		},
		"bool": func(a []any) (any, error) {
			if len(a) != 1 {
				return nil, errors.New("TypeError: bool() takes one argument here")
			}
			return truthy(a[0]), nil
		},
		"tuple": func(a []any) (any, error) {
			items, err := iterate(a, "tuple")
			return pyTuple(items), err
		},
		"list": func(a []any) (any, error) {
			items, err := iterate(a, "list")
			return items, err
		},
		"any": func(a []any) (any, error) {
			items, err := iterate(a, "any")
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				if truthy(it) {
					return true, nil
				}
			}
			return false, nil
		},
		"all": func(a []any) (any, error) {
			items, err := iterate(a, "all")
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				if !truthy(it) {
					return false, nil
				}
			}
			return true, nil
		},
		"open": func(a []any) (any, error) {
			p, err := strArg(a, 0)
			if err != nil {
				return nil, err
			}
			st, err := os.Stat(p)
			if err != nil {
				return nil, fmt.Errorf("FileNotFoundError: %s", p)
			}
			if !st.Mode().IsRegular() {
				return nil, fmt.Errorf("OSError: %s is not a regular file", p)
			}
			return &pyFile{path: p}, nil
		},
	}
}

func iterate(a []any, fname string) ([]any, error) {
	if len(a) != 1 {
		return nil, fmt.Errorf("TypeError: %s() takes one argument", fname)
	}
	switch v := a[0].(type) {
	case pyTuple:
		return append([]any(nil), v...), nil
	case []any:
		return append([]any(nil), v...), nil
	case string:
		out := []any{}
		for _, r := range v {
			out = append(out, string(r))
		}
		return out, nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = k
		}
		return out, nil
	}
	return nil, fmt.Errorf("TypeError: %s object is not iterable", typeName(a[0]))
}

func typeName(v any) string {
	switch v.(type) {
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pyTuple:
		return "tuple"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	case pyNoneType:
		return "NoneType"
	case *pyModule:
		return "module"
	case pyFunc:
		return "function"
	case *pyFile:
		return "file"
	}
	return fmt.Sprintf("%T", v)
}

func pyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case pyNoneType:
		return "None"
	case pyTuple:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		if len(x) == 1 {
			return "(" + parts[0] + ",)"
		}
		return "(" + strings.Join(parts, ", ") + ")"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return "<" + typeName(v) + ">"
}

func pyRepr(v any) string {
	if s, ok := v.(string); ok {
		return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
	}
	return pyStr(v)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	case pyTuple:
		return len(x) > 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	case pyNoneType:
		return false
	}
	return true
}

// ---- tokenizer ----

type tokKind int

const (
	tEOF tokKind = iota
	tName
	tNum
	tStr
	tOp
)

type token struct {
	kind tokKind
	text string // name, operator, or decoded string
	num  any
	pos  int
}

var errSyntax = errors.New("SyntaxError")

func tokenize(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\f' || c == '\n' || c == '\r' || c == '\v':
			i++
		case c == '#':
			i = len(s)
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
			j := i
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9' || s[j] >= 0x80) {
				j++
			}
			word := s[i:j]
			if j < len(s) && (s[j] == '\'' || s[j] == '"') && len(word) <= 2 && strings.Trim(strings.ToLower(word), "rbu") == "" {
				str, n, err := readString(s[j:], strings.ContainsAny(word, "rR"))
				if err != nil {
					return nil, err
				}
				toks = append(toks, token{kind: tStr, text: str, pos: i})
				i = j + n
				continue
			}
			toks = append(toks, token{kind: tName, text: word, pos: i})
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == '_' || s[j] == 'x' || s[j] == 'X' || s[j] >= 'a' && s[j] <= 'f' || s[j] >= 'A' && s[j] <= 'F') {
				j++
			}
			lit := strings.ReplaceAll(s[i:j], "_", "")
			if n, err := strconv.ParseInt(lit, 0, 64); err == nil {
				toks = append(toks, token{kind: tNum, num: n, pos: i})
			} else if f, err := strconv.ParseFloat(lit, 64); err == nil {
				toks = append(toks, token{kind: tNum, num: f, pos: i})
			} else {
				return nil, fmt.Errorf("%w: bad number %q", errSyntax, s[i:j])
			}
			i = j
		case c == '\'' || c == '"':
			str, n, err := readString(s[i:], false)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tStr, text: str, pos: i})
			i += n
		default:
			op := ""
			for _, o := range []string{"===", "~=", "==", "!=", "<=", ">=", "//", "**", "<", ">", "(", ")", "[", "]", ",", ".", ":", "+", "-", "*", "%", "/", "~", "{", "}"} {
				if strings.HasPrefix(s[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("%w: unexpected character %q", errSyntax, string(c))
			}
			toks = append(toks, token{kind: tOp, text: op, pos: i})
			i += len(op)
		}
	}
	toks = append(toks, token{kind: tEOF, pos: len(s)})
	return toks, nil
}

// readString reads a Python string literal at the start of s and returns
// its value and length.
func readString(s string, raw bool) (string, int, error) {
	q := s[0]
	triple := strings.HasPrefix(s, strings.Repeat(string(q), 3))
	i := 1
	if triple {
		i = 3
	}
	var b strings.Builder
	for i < len(s) {
		c := s[i]
		if triple && strings.HasPrefix(s[i:], strings.Repeat(string(q), 3)) {
			return b.String(), i + 3, nil
		}
		if !triple && c == q {
			return b.String(), i + 1, nil
		}
		if c == '\\' && i+1 < len(s) {
			if raw {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
				i += 2
				continue
			}
			e := s[i+1]
			i += 2
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'x':
				if i+2 <= len(s) {
					n, err := strconv.ParseUint(s[i:i+2], 16, 8)
					if err == nil {
						b.WriteRune(rune(n))
						i += 2
						continue
					}
				}
				return "", 0, fmt.Errorf("%w: bad \\x escape", errSyntax)
			case '\n':
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
			continue
		}
		if c == '\n' && !triple {
			break
		}
		b.WriteByte(c)
		i++
	}
	return "", 0, fmt.Errorf("%w: unterminated string", errSyntax)
}

// readFileString reads at most 1 MiB of a regular file (open().read() in a
// condition).
func readFileString(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	return string(b), err
}
