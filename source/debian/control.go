package debian

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Paragraph is one stanza of a deb822 control file. Field names keep the
// case the file uses; Get looks them up case-insensitively.
type Paragraph map[string]string

// Get returns a field's value ("" when absent).
func (p Paragraph) Get(field string) string {
	if v, ok := p[field]; ok {
		return v
	}
	for k, v := range p {
		if strings.EqualFold(k, field) {
			return v
		}
	}
	return ""
}

// ReadParagraphs calls fn for each paragraph of a deb822 stream with the line
// its first field is on. When fields is non-nil only those fields are kept,
// which makes reading the large Packages indices cheap. Comment lines (#) are
// skipped.
func ReadParagraphs(r io.Reader, fields map[string]bool, fn func(p Paragraph, line int) error) error {
	br := bufio.NewReaderSize(r, 1<<16)
	var (
		p      Paragraph
		start  int
		lineNo int
		cur    string // field being continued
		keep   bool
		buf    strings.Builder
	)
	flushField := func() {
		if cur != "" && keep {
			p[cur] = buf.String()
		}
		cur = ""
		buf.Reset()
	}
	flush := func() error {
		flushField()
		if len(p) == 0 {
			p = nil
			return nil
		}
		q := p
		p = nil
		return fn(q, start)
	}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A very long line: collect it whole.
			rest, err2 := br.ReadBytes('\n')
			line = append(append([]byte(nil), line...), rest...)
			err = err2
		}
		if len(line) == 0 && err != nil {
			if err != io.EOF {
				return fmt.Errorf("read control data: %w", err)
			}
			break
		}
		lineNo++
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(bytes.TrimSpace(line)) == 0:
			if ferr := flush(); ferr != nil {
				return ferr
			}
		case line[0] == '#':
		case line[0] == ' ' || line[0] == '\t':
			if cur == "" {
				return fmt.Errorf("line %d: continuation line outside a field", lineNo)
			}
			if keep {
				buf.WriteByte('\n')
				buf.Write(bytes.TrimSpace(line))
			}
		default:
			flushField()
			i := bytes.IndexByte(line, ':')
			if i <= 0 {
				return fmt.Errorf("line %d: want \"Field: value\", got %q", lineNo, truncate(string(line), 60))
			}
			if p == nil {
				p = Paragraph{}
				start = lineNo
			}
			cur = string(line[:i])
			keep = fields == nil || fields[cur]
			if keep {
				buf.Write(bytes.TrimSpace(line[i+1:]))
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read control data: %w", err)
		}
	}
	return flush()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
