package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hbuild/hbuild/engine"
)

func render(t *testing.T, mode string, verbose bool, evs []engine.Event, err error) string {
	t.Helper()
	var buf bytes.Buffer
	old := global
	defer func() { global = old }()
	global.Progress, global.Verbose = mode, verbose
	r, rerr := newRenderer(&buf)
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, ev := range evs {
		r.Event(ev)
	}
	r.Finish(&engine.Result{}, err)
	return buf.String()
}

var sampleEvents = func() []engine.Event {
	t0 := time.Unix(1000, 0)
	return []engine.Event{
		{Time: t0, Kind: engine.EvQueued, Part: "zlib", Key: strings.Repeat("a", 64)},
		{Time: t0, Kind: engine.EvCached, Part: "zlib", Key: strings.Repeat("a", 64)},
		{Time: t0, Kind: engine.EvStarted, Part: "libxml2", Key: strings.Repeat("b", 64)},
		{Time: t0, Kind: engine.EvStep, Part: "libxml2", Step: "make"},
		{Time: t0, Kind: engine.EvLog, Part: "libxml2", Line: "CC parser.lo"},
		{Time: t0, Kind: engine.EvDone, Part: "libxml2", Duration: 2 * time.Second},
		{Time: t0, Kind: engine.EvStarted, Part: "libxslt"},
		{Time: t0, Kind: engine.EvFailed, Part: "libxslt", Err: errors.New("boom")},
	}
}()

func TestRenderPlain(t *testing.T) {
	out := render(t, "plain", false, sampleEvents, errors.New("part libxslt failed"))
	for _, want := range []string{"zlib: cached (aaaaaaaaaaaa)", "libxml2: building (bbbbbbbbbbbb)", "libxml2: make", "libxml2: done in 2s", "libxslt: FAILED", "part libxslt failed", "1 built, 1 cached, 1 failed in "} {
		if !strings.Contains(out, want) {
			t.Errorf("plain output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "CC parser.lo") {
		t.Errorf("log line shown without -v:\n%s", out)
	}
	if out := render(t, "plain", true, sampleEvents, nil); !strings.Contains(out, "[libxml2] CC parser.lo") {
		t.Errorf("-v does not stream logs:\n%s", out)
	}
}

func TestRenderJSON(t *testing.T) {
	out := render(t, "json", false, sampleEvents, nil)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(sampleEvents) { // every event but the log line, plus the summary
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	var failed map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-2]), &failed); err != nil || failed["kind"] != "failed" || failed["error"] != "boom" {
		t.Errorf("failed event %v %v", failed, err)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum["kind"] != "summary" || sum["built"] != 1.0 {
		t.Errorf("summary %v %v", sum, err)
	}
}

func TestRenderTTY(t *testing.T) {
	var buf bytes.Buffer
	old := global
	defer func() { global = old }()
	global.Progress = "tty"
	r, err := newRenderer(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range sampleEvents[:5] {
		r.Event(ev)
	}
	r.Tick() // a throttled log line shows at the next refresh
	out := buf.String()
	if !strings.Contains(out, "libxml2") || !strings.Contains(out, "make") || !strings.Contains(out, "CC parser.lo") || !strings.Contains(out, "\x1b[") {
		t.Errorf("tty output:\n%q", out)
	}
}

func TestSplitArgs(t *testing.T) {
	o, p := splitArgs([]string{"zlib", "zlib:url=http://x/y", "libxml2", "a=b"})
	if strings.Join(o, " ") != "zlib:url=http://x/y" || strings.Join(p, " ") != "zlib libxml2 a=b" {
		t.Errorf("overrides %q parts %q", o, p)
	}
}

func TestBadProgress(t *testing.T) {
	old := global
	defer func() { global = old }()
	global.Progress = "fancy"
	if _, err := newRenderer(&bytes.Buffer{}); err == nil {
		t.Fatal("bad --progress accepted")
	}
}

func TestRenderProgress(t *testing.T) {
	t0 := time.Unix(1000, 0)
	evs := []engine.Event{
		{Time: t0, Kind: engine.EvStarted, Part: "zlib"},
		{Time: t0, Kind: engine.EvProgress, Part: "zlib", Line: "zlib.tar.gz", Done: 0, Total: 4 << 20},
		{Time: t0.Add(time.Second), Kind: engine.EvProgress, Part: "zlib", Line: "zlib.tar.gz", Done: 1 << 20, Total: 4 << 20},
		{Time: t0.Add(6 * time.Second), Kind: engine.EvProgress, Part: "zlib", Line: "zlib.tar.gz", Done: 3 << 20, Total: 4 << 20},
		{Time: t0.Add(7 * time.Second), Kind: engine.EvProgress, Part: "zlib", Line: "zlib.tar.gz", Done: 4 << 20, Total: 4 << 20},
	}
	out := render(t, "plain", false, evs, nil)
	// The first, one after 5 s, and the last; not the one 1 s in.
	for _, want := range []string{"fetch zlib.tar.gz 0 B/4.0 MiB (0%)", "fetch zlib.tar.gz 3.0 MiB/4.0 MiB (75%)", "fetch zlib.tar.gz 4.0 MiB/4.0 MiB (100%)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plain output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "(25%)") {
		t.Errorf("plain output not throttled:\n%s", out)
	}

	var buf bytes.Buffer
	old := global
	defer func() { global = old }()
	global.Progress = "tty"
	r, err := newRenderer(&buf)
	if err != nil {
		t.Fatal(err)
	}
	r.Event(evs[0])
	r.Event(engine.Event{Time: t0, Kind: engine.EvProgress, Part: "zlib", Line: "big.tar.xz", Done: 3 << 30, Total: -1})
	r.Tick()
	if out := buf.String(); !strings.Contains(out, "fetch big.tar.xz 3.0 GiB") {
		t.Errorf("tty live line lacks the download:\n%q", out)
	}
}
