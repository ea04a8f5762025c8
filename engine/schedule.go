package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// schedule runs run for every part after the parts it depends on, at most
// jobs CPU tokens at a time. Each started part gets a share of the free
// tokens (at least one) as its make -j, so the total stays within jobs.
// On the first failure nothing new starts unless keepGoing; parts whose
// dependencies failed are skipped. It returns the failures.
func schedule(ctx context.Context, parts []*Part, jobs int, keepGoing bool, run func(ctx context.Context, p *Part, share int) error) map[string]error {
	if jobs < 1 {
		jobs = 1
	}
	in := map[string]bool{}
	for _, p := range parts {
		in[p.Name] = true
	}
	waiting := map[string]int{}
	dependents := map[string][]*Part{}
	for _, p := range parts {
		for _, d := range p.Deps {
			if in[d] {
				waiting[p.Name]++
				dependents[d] = append(dependents[d], p)
			}
		}
	}
	var ready []*Part
	for _, p := range parts {
		if waiting[p.Name] == 0 {
			ready = append(ready, p)
		}
	}
	type result struct {
		p     *Part
		share int
		err   error
	}
	results := make(chan result)
	failed := map[string]error{}
	free, running := jobs, 0
	stopped := false
	var wg sync.WaitGroup
	var skip func(p *Part, why error)
	skip = func(p *Part, why error) {
		for _, d := range dependents[p.Name] {
			if _, done := failed[d.Name]; !done {
				failed[d.Name] = &SkippedError{Part: d.Name, Dep: p.Name}
				skip(d, why)
			}
		}
	}
	for {
		for !stopped && len(ready) > 0 && free > 0 && ctx.Err() == nil {
			p := ready[0]
			ready = ready[1:]
			share := free / (len(ready) + 1)
			if share < 1 {
				share = 1
			}
			free -= share
			running++
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := run(ctx, p, share)
				results <- result{p, share, err}
			}()
		}
		if running == 0 {
			break
		}
		r := <-results
		running--
		free += r.share
		if r.err != nil {
			failed[r.p.Name] = r.err
			skip(r.p, r.err)
			if !keepGoing {
				stopped = true
			}
			continue
		}
		for _, d := range dependents[r.p.Name] {
			waiting[d.Name]--
			if waiting[d.Name] == 0 {
				if _, f := failed[d.Name]; !f {
					ready = append(ready, d)
				}
			}
		}
	}
	wg.Wait()
	return failed
}

// SkippedError marks a part not built because a dependency failed.
type SkippedError struct{ Part, Dep string }

func (e *SkippedError) Error() string {
	return fmt.Sprintf("%s: not built: its dependency %s failed", e.Part, e.Dep)
}

// IsSkipped reports whether err is a SkippedError.
func IsSkipped(err error) bool {
	var s *SkippedError
	return errors.As(err, &s)
}
