package engine

import (
	"context"
	"path"
	"sync"
	"time"

	"github.com/hbuild/hbuild/source"
)

// progressInterval is the least time between two progress events of one
// download: enough for a live line, few enough for a JSON consumer.
const progressInterval = 250 * time.Millisecond

type partCtxKey struct{}

// withPart records in ctx the part a download is made for.
func withPart(ctx context.Context, part string) context.Context {
	return context.WithValue(ctx, partCtxKey{}, part)
}

func partOf(ctx context.Context) string {
	p, _ := ctx.Value(partCtxKey{}).(string)
	return p
}

// progressFetcher returns the engine's fetcher with a Progress callback
// that emits EvProgress events for the part named in ctx: the first bytes,
// then at most one event per progressInterval, and the last bytes.
func (e *Engine) progressFetcher(ctx context.Context) *source.Fetcher {
	f := *e.Fetcher
	part := partOf(ctx)
	var mu sync.Mutex
	var last time.Time
	f.Progress = func(url string, done, total int64) {
		mu.Lock()
		now := time.Now()
		final := total >= 0 && done >= total
		if !final && !last.IsZero() && now.Sub(last) < progressInterval {
			mu.Unlock()
			return
		}
		last = now
		mu.Unlock()
		e.emit(Event{Kind: EvProgress, Part: part, Line: path.Base(url), Done: done, Total: total})
	}
	return &f
}
