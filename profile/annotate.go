package profile

import (
	"bufio"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
)

// Annotate writes zc.buildout's annotate output for the given sections (all
// when none; unknown names are ignored, as zc.buildout does): sections and
// options sorted, each value followed by where it came from. verbose prints
// every step of each value's history, newest first, like `buildout -v
// annotate`. Values are shown before macro expansion and substitution.
func (p *Profile) Annotate(w io.Writer, sections []string, verbose bool) error {
	bw := bufio.NewWriter(w)
	base := p.annotateBase()
	chosen := map[string]bool{}
	for _, s := range sections {
		chosen[s] = true
	}
	bw.WriteString("\nAnnotated sections\n==================\n")
	for _, sn := range p.SectionNames() {
		if len(chosen) > 0 && !chosen[sn] {
			continue
		}
		bw.WriteString("\n[" + sn + "]\n")
		sec := p.annotated[sn]
		for _, k := range sortedKeys(sec) {
			v := sec[k]
			writeKeyValue(bw, k, v.Raw)
			if verbose {
				bw.WriteString("\n")
				for x := v; x != nil; x = x.prev {
					o := x.o
					prefix := "IN"
					switch o.Kind {
					case KindDefault, KindComputed, KindCommandLine:
						prefix = "AS"
					}
					bw.WriteString("   " + prefix + " " + sourceForHuman(o.Source(), base) + "\n")
					lines := pySplitLines(o.Text)
					if len(lines) <= 1 {
						bw.WriteString("   " + o.historyOp() + " VALUE = " + o.Text + "\n")
					} else {
						bw.WriteString("   " + o.historyOp() + " VALUE =\n")
						for _, l := range lines {
							bw.WriteString("      " + l + "\n")
						}
					}
				}
				bw.WriteString("\n")
				continue
			}
			for _, l := range terseSources(v, base) {
				bw.WriteString(l + "\n")
			}
		}
	}
	return bw.Flush()
}

// annotateBase is the directory sources are shown relative to.
func (p *Profile) annotateBase() string {
	if v, ok := p.annotated["buildout"]["directory"]; ok {
		return v.Raw
	}
	return ""
}

func writeKeyValue(w *bufio.Writer, key, value string) {
	lines := pySplitLines(value)
	if len(lines) <= 1 {
		w.WriteString(key + "=")
		if value != "" {
			w.WriteString(" " + value)
		}
		w.WriteString("\n")
		return
	}
	w.WriteString(key + "= " + lines[0] + "\n")
	for _, l := range lines[1:] {
		w.WriteString(l + "\n")
	}
}

// terseSources are the origin lines of the default annotate output: the
// trailing run of += / -= steps and the step before it, oldest first.
func terseSources(v *Value, base string) []string {
	var out []string
	for x := v; x != nil; x = x.prev {
		o := x.o
		src := sourceForHuman(o.Source(), base)
		var line string
		switch o.Op {
		case OpAdd:
			line = "+=  " + src
		case OpRemove:
			line = "-=  " + src
		default:
			line = "    " + src
		}
		if strings.TrimSpace(line) != "" {
			out = append(out, line)
		}
		if o.Op != OpAdd && o.Op != OpRemove {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// sourceForHuman shows a path under base relative to it (a string prefix
// test, as zc.buildout does).
func sourceForHuman(src, base string) string {
	if base != "" && strings.HasPrefix(src, base) {
		if rel, err := filepath.Rel(base, src); err == nil {
			return rel
		}
	}
	return src
}

// pySplitLines is Python's str.splitlines for the separators a value can
// hold.
func pySplitLines(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e:
			out = append(out, s[start:i])
			if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// AnnotatedValue is one option in AnnotateJSON's output.
type AnnotatedValue struct {
	Value   string   `json:"value"`
	Origins []Origin `json:"origins"`
}

// MarshalJSON writes an origin with lower-case keys, leaving out empty ones.
func (o Origin) MarshalJSON() ([]byte, error) {
	type origin struct {
		File string `json:"file,omitempty"`
		Line int    `json:"line,omitempty"`
		Kind string `json:"kind"`
		Op   string `json:"op,omitempty"`
		Text string `json:"text"`
	}
	return json.Marshal(origin(o))
}

// AnnotateJSON writes the raw merged values with their origins as JSON:
// {"section": {"option": {"value": "...", "origins": [...]}}}, for the given
// sections (all when none).
func (p *Profile) AnnotateJSON(w io.Writer, sections []string) error {
	chosen := map[string]bool{}
	for _, s := range sections {
		chosen[s] = true
	}
	out := map[string]map[string]AnnotatedValue{}
	for sn, sec := range p.annotated {
		if len(chosen) > 0 && !chosen[sn] {
			continue
		}
		m := make(map[string]AnnotatedValue, len(sec))
		for k, v := range sec {
			m[k] = AnnotatedValue{Value: v.Raw, Origins: v.history()}
		}
		out[sn] = m
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(out)
}
