package engine

import (
	"encoding/json"
	"time"
)

// EventKind says what happened.
type EventKind string

// The events of a build, in the order a part goes through them.
const (
	EvQueued  EventKind = "queued"  // the part will be built or reused
	EvCached  EventKind = "cached"  // reused from the store
	EvStarted EventKind = "started" // its build started
	EvStep    EventKind = "step"    // a step (fetch, configure, make, ...) started
	EvLog     EventKind = "log"     // one line of build output
	EvWarning EventKind = "warning" // a promise not kept, a policy warning, ...
	EvDone    EventKind = "done"    // built and stored
	EvFailed  EventKind = "failed"  // its build failed
	EvImage   EventKind = "image"   // an image was assembled and written
	// EvProgress reports bytes of a download (Line: the file name; Done and
	// Total: bytes, Total -1 when unknown), at most a few times a second.
	EvProgress EventKind = "progress"
)

// Event is one thing that happened during a build. Events of one build
// are delivered one at a time, in order.
type Event struct {
	Time     time.Time     `json:"time"`
	Kind     EventKind     `json:"kind"`
	Part     string        `json:"part"`
	Key      string        `json:"key,omitempty"`
	Step     string        `json:"step,omitempty"`
	Line     string        `json:"line,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	Log      string        `json:"log,omitempty"`      // the part's log file
	ExitCode int           `json:"exitCode,omitempty"` // failed step's exit status
	Tail     []string      `json:"tail,omitempty"`     // last lines of a failed step
	Err      error         `json:"-"`
	Digest   string        `json:"digest,omitempty"` // image digest
	Output   string        `json:"output,omitempty"` // image destination
	Done     int64         `json:"done,omitempty"`   // bytes downloaded (progress)
	Total    int64         `json:"total,omitempty"`  // bytes to download, -1 unknown (progress)
}

// MarshalJSON adds the error text.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	v := struct {
		plain
		Error string `json:"error,omitempty"`
	}{plain: plain(e)}
	if e.Err != nil {
		v.Error = e.Err.Error()
	}
	return json.Marshal(v)
}
