package profile

import (
	"strconv"
	"strings"
)

// Error is a problem with a profile. File and Line locate it (Line 0: the
// whole file, File "": the command line or a built-in default), Section and
// Option name what it is about, Chain lists the references that led to it
// ("section:option", outermost first) and Msg says what is wrong and, for
// user errors, what to change.
type Error struct {
	File    string
	Line    int
	Section string
	Option  string
	Msg     string
	Chain   []string
}

// Error formats the error as "file:line: section:option: msg (via a:b -> c:d)",
// leaving out the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Section != "" {
		b.WriteString(e.Section)
		if e.Option != "" {
			b.WriteByte(':')
			b.WriteString(e.Option)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if len(e.Chain) > 0 {
		b.WriteString(" (via ")
		b.WriteString(strings.Join(e.Chain, " -> "))
		b.WriteByte(')')
	}
	return b.String()
}
