package sandbox

import (
	"bytes"
	"io"
	"sync"
)

// maxLine bounds a kept line; longer lines are cut.
const maxLine = 4096

// tailBuffer keeps the last n complete lines written to any of its writers,
// in the order they were completed; each writer keeps its own partial line so
// that stdout and stderr do not tear each other's lines.
type tailBuffer struct {
	mu    sync.Mutex
	n     int
	ring  []string
	parts []*tailWriter
}

func newTailBuffer(n int) *tailBuffer { return &tailBuffer{n: n} }

type tailWriter struct {
	t       *tailBuffer
	partial []byte
}

// writer returns a new writer feeding the buffer.
func (t *tailBuffer) writer() io.Writer {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := &tailWriter{t: t}
	t.parts = append(t.parts, w)
	return w
}

func (w *tailWriter) Write(p []byte) (int, error) {
	t := w.t
	t.mu.Lock()
	defer t.mu.Unlock()
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			w.partial = appendBounded(w.partial, rest)
			break
		}
		w.partial = appendBounded(w.partial, rest[:i])
		t.push(string(bytes.TrimRight(w.partial, "\r")))
		w.partial = w.partial[:0]
		rest = rest[i+1:]
	}
	return len(p), nil
}

func appendBounded(dst, src []byte) []byte {
	if room := maxLine - len(dst); room < len(src) {
		if room <= 0 {
			return dst
		}
		src = src[:room]
	}
	return append(dst, src...)
}

func (t *tailBuffer) push(line string) {
	if len(t.ring) == t.n {
		copy(t.ring, t.ring[1:])
		t.ring = t.ring[:t.n-1]
	}
	t.ring = append(t.ring, line)
}

// lines returns the kept lines, unfinished last lines included.
func (t *tailBuffer) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range t.parts {
		if len(w.partial) > 0 {
			t.push(string(w.partial))
			w.partial = w.partial[:0]
		}
	}
	return append([]string(nil), t.ring...)
}
