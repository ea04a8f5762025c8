package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/hbuild/hbuild/engine"
)

// renderer shows a build's events on stderr.
type renderer struct {
	mu      sync.Mutex
	w       io.Writer
	mode    string // tty, plain or json
	verbose bool
	start   time.Time

	running               map[string]*partState
	lines                 int // lines of the live block on screen (tty)
	last                  time.Time
	width                 int
	built, cached, failed int
	plainProgress         map[string]time.Time // last progress line per part (plain)
}

type partState struct {
	name    string
	step    string
	started time.Time
	last    string
}

// progressMode resolves --progress auto.
func progressMode(w io.Writer) (string, error) {
	switch global.Progress {
	case "tty", "plain", "json":
		return global.Progress, nil
	case "auto", "":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb" {
			return "tty", nil
		}
		return "plain", nil
	}
	return "", usagef("--progress %q: want auto, tty, plain or json", global.Progress)
}

func newRenderer(w io.Writer) (*renderer, error) {
	mode, err := progressMode(w)
	if err != nil {
		return nil, err
	}
	r := &renderer{w: w, mode: mode, verbose: global.Verbose, start: time.Now(), running: map[string]*partState{}, width: 100}
	if f, ok := w.(*os.File); ok && mode == "tty" {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			r.width = cols
		}
	}
	return r, nil
}

// Event renders one event; it is the engine's Events callback.
func (r *renderer) Event(ev engine.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev.Kind {
	case engine.EvStarted:
		r.running[ev.Part] = &partState{name: ev.Part, started: time.Now(), step: "start"}
	case engine.EvStep:
		if s := r.running[ev.Part]; s != nil {
			s.step = ev.Step
		}
	case engine.EvLog:
		if s := r.running[ev.Part]; s != nil {
			s.last = ev.Line
		}
	case engine.EvProgress:
		if s := r.running[ev.Part]; s != nil {
			s.last = progressLine(ev)
		}
	}
	building := r.running[ev.Part] != nil
	switch ev.Kind {
	case engine.EvCached:
		r.cached++
	case engine.EvDone:
		if building {
			r.built++
		}
	case engine.EvFailed:
		r.failed++
	}
	switch ev.Kind {
	case engine.EvDone, engine.EvFailed, engine.EvImage: // an assembled image is not a built part
		delete(r.running, ev.Part)
	}
	switch r.mode {
	case "json":
		if ev.Kind == engine.EvLog && !r.verbose {
			return
		}
		b, err := json.Marshal(ev)
		if err == nil {
			fmt.Fprintf(r.w, "%s\n", b)
		}
	case "plain":
		r.plain(ev)
	default:
		r.tty(ev, building)
	}
}

func (r *renderer) plain(ev engine.Event) {
	ts := ev.Time.Sub(r.start).Seconds()
	switch ev.Kind {
	case engine.EvQueued:
		return
	case engine.EvLog:
		if r.verbose {
			fmt.Fprintf(r.w, "[%s] %s\n", ev.Part, ev.Line)
		}
		return
	case engine.EvProgress:
		// A line when a download starts, every few seconds, and at its end.
		final := ev.Total >= 0 && ev.Done >= ev.Total
		if r.plainProgress == nil {
			r.plainProgress = map[string]time.Time{}
		}
		if t, ok := r.plainProgress[ev.Part+" "+ev.Line]; ok && !final && ev.Time.Sub(t) < 5*time.Second {
			return
		}
		r.plainProgress[ev.Part+" "+ev.Line] = ev.Time
		fmt.Fprintf(r.w, "%7.1fs %s: %s\n", ts, orAll(ev.Part), progressLine(ev))
	case engine.EvCached:
		fmt.Fprintf(r.w, "%7.1fs %s: cached (%s)\n", ts, ev.Part, short(ev.Key))
	case engine.EvStarted:
		fmt.Fprintf(r.w, "%7.1fs %s: building (%s)\n", ts, ev.Part, short(ev.Key))
	case engine.EvStep:
		fmt.Fprintf(r.w, "%7.1fs %s: %s\n", ts, ev.Part, ev.Step)
	case engine.EvWarning:
		fmt.Fprintf(r.w, "%7.1fs %s: warning: %s\n", ts, orAll(ev.Part), ev.Line)
	case engine.EvDone:
		fmt.Fprintf(r.w, "%7.1fs %s: done in %s\n", ts, ev.Part, ev.Duration.Round(time.Millisecond))
	case engine.EvImage:
		if ev.Output != "" {
			fmt.Fprintf(r.w, "%7.1fs %s: image %s written to %s\n", ts, ev.Part, ev.Digest, ev.Output)
		} else {
			fmt.Fprintf(r.w, "%7.1fs %s: image %s\n", ts, ev.Part, ev.Digest)
		}
	case engine.EvFailed:
		fmt.Fprintf(r.w, "%7.1fs %s: FAILED\n", ts, ev.Part)
	}
}

func orAll(p string) string {
	if p == "" {
		return "hbuild"
	}
	return p
}

func (r *renderer) tty(ev engine.Event, building bool) {
	var above []string // lines printed above the live block
	switch ev.Kind {
	case engine.EvLog:
		if r.verbose {
			above = append(above, fmt.Sprintf("[%s] %s", ev.Part, ev.Line))
		}
	case engine.EvCached:
		above = append(above, fmt.Sprintf("\x1b[2m%s: cached\x1b[0m", ev.Part))
	case engine.EvDone:
		if building {
			above = append(above, fmt.Sprintf("\x1b[32m%s: built in %s\x1b[0m", ev.Part, ev.Duration.Round(100*time.Millisecond)))
		}
	case engine.EvImage:
		above = append(above, fmt.Sprintf("%s: image %s %s", ev.Part, ev.Digest, ev.Output))
	case engine.EvWarning:
		above = append(above, fmt.Sprintf("\x1b[33m%s: warning: %s\x1b[0m", orAll(ev.Part), ev.Line))
	case engine.EvFailed:
		above = append(above, fmt.Sprintf("\x1b[31m%s: FAILED\x1b[0m", ev.Part))
	}
	if len(above) == 0 && (ev.Kind == engine.EvLog || ev.Kind == engine.EvProgress) && time.Since(r.last) < 100*time.Millisecond {
		return // throttle redraws caused by output
	}
	r.redraw(above)
}

func (r *renderer) clear() {
	if r.lines > 0 {
		fmt.Fprintf(r.w, "\x1b[%dA\x1b[J", r.lines)
		r.lines = 0
	}
}

func (r *renderer) redraw(above []string) {
	r.last = time.Now()
	var b strings.Builder
	if r.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", r.lines)
	}
	for _, l := range above {
		b.WriteString(l + "\n")
	}
	names := make([]string, 0, len(r.running))
	for n := range r.running {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := r.running[n]
		line := fmt.Sprintf("\x1b[1m%s\x1b[0m %s %s  %s", s.name, s.step, time.Since(s.started).Round(time.Second), s.last)
		b.WriteString(clipVisible(line, r.width-1) + "\n")
	}
	r.lines = len(names)
	io.WriteString(r.w, b.String())
}

// clipVisible cuts a line to n visible characters (escape sequences are
// not counted).
func clipVisible(s string, n int) string {
	var b strings.Builder
	vis := 0
	esc := false
	for _, c := range s {
		switch {
		case c == '\x1b':
			esc = true
		case esc && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'):
			esc = false
			b.WriteRune(c)
			continue
		}
		if !esc {
			if c == '\t' || c < ' ' {
				c = ' '
			}
			if vis >= n {
				continue
			}
			vis++
		}
		b.WriteRune(c)
	}
	if esc || strings.Contains(s, "\x1b[") {
		b.WriteString("\x1b[0m")
	}
	return b.String()
}

// Tick refreshes the elapsed times of the live block.
func (r *renderer) Tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode == "tty" && len(r.running) > 0 {
		r.redraw(nil)
	}
}

// Finish prints the summary and the failures.
func (r *renderer) Finish(res *engine.Result, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode == "tty" {
		r.clear()
	}
	if r.mode == "json" {
		v := map[string]any{"kind": "summary", "built": r.built, "cached": r.cached, "failed": r.failed, "seconds": time.Since(r.start).Seconds()}
		if err != nil {
			v["error"] = err.Error()
		}
		b, _ := json.Marshal(v)
		fmt.Fprintf(r.w, "%s\n", b)
		return
	}
	if err != nil {
		fmt.Fprintf(r.w, "\n%v\n", err)
	}
	fmt.Fprintf(r.w, "%d built, %d cached, %d failed in %s\n", r.built, r.cached, r.failed, time.Since(r.start).Round(time.Millisecond))
}

func short(k string) string {
	k = strings.TrimPrefix(k, "sha256:")
	if len(k) > 12 {
		return k[:12]
	}
	return k
}

// progressLine renders a download's progress: "fetch NAME 1.5/4.0 MiB (37%)".
func progressLine(ev engine.Event) string {
	if ev.Total < 0 {
		return fmt.Sprintf("fetch %s %s", ev.Line, humanBytes(ev.Done))
	}
	pct := 100
	if ev.Total > 0 {
		pct = int(ev.Done * 100 / ev.Total)
	}
	return fmt.Sprintf("fetch %s %s/%s (%d%%)", ev.Line, humanBytes(ev.Done), humanBytes(ev.Total), pct)
}

// humanBytes renders a byte count in B, KiB, MiB or GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n)/unit, "KiB"
	for _, s := range []string{"MiB", "GiB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}
