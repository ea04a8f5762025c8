package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Fetcher downloads sources into a CAS. The zero values of its optional
// fields are sensible defaults; a Fetcher may be used by several goroutines
// at once, and several processes may share one CAS.
type Fetcher struct {
	CAS *CAS
	// FindLinks are local directories, file:// URLs or http(s) URL prefixes
	// searched, in order, for a file's basename before its URL: a mirror or
	// a directory of tarballs can stand in for the internet.
	FindLinks []string
	// AllowHosts are buildout's allow-hosts globs ("*.example.org"). When
	// non-empty, a URL whose host (or host:port) matches none is refused.
	AllowHosts []string
	// Offline uses only the cache, local files and local find-links.
	Offline bool
	// AllowUnpinned fetches a source that has no checksum (otherwise it is
	// refused); Fetched.SHA256 then tells the digest to pin.
	AllowUnpinned bool
	// Client is the HTTP client (nil: a client with sane timeouts).
	Client *http.Client
	// Retries is how many times a failed download (network error, 5xx,
	// 429, truncated body) is tried again: 0 means 3, negative means none.
	Retries int
	// Backoff is the delay before the first retry, doubled each time up to
	// 30s (0 means 1s).
	Backoff time.Duration
	// Progress, when set, is called as bytes arrive; total is -1 when the
	// server did not say.
	Progress func(url string, done, total int64)

	// Shared, when set, is consulted after find-links and before the URL
	// (also when Offline); verified downloads are pushed to it unless
	// NoPush.
	Shared SharedCache
	NoPush bool

	// GitDir holds the bare git mirrors (default: "git" beside the CAS
	// directory, i.e. <cache>/git).
	GitDir string
	// Git is the git executable (default "git" on PATH).
	Git string
}

// Fetched is a source in the CAS.
type Fetched struct {
	Path   string // the blob in the CAS (read-only; do not modify)
	SHA256 string
	Name   string // basename of the URL, for picking the archive format
	Size   int64
	// From says where the bytes came from: "cache", a find-links entry
	// plus the file name, SharedFrom, or the URL.
	From string
	// Warnings are problems that did not fail the fetch (a failed push to
	// the shared cache).
	Warnings []string
}

// UnpinnedError refuses a source that has no checksum.
type UnpinnedError struct{ URL string }

func (e *UnpinnedError) Error() string {
	return fmt.Sprintf("fetch %s: no checksum: pin it with md5sum, sha256 or sha512 "+
		"(run with --allow-unpinned to download it once and be told its sha256)", e.URL)
}

// HostNotAllowedError refuses a URL whose host matches no allow-hosts glob.
type HostNotAllowedError struct {
	URL        string
	Host       string
	AllowHosts []string
}

func (e *HostNotAllowedError) Error() string {
	return fmt.Sprintf("fetch %s: host %s is not in allow-hosts (%s): add it to [buildout] allow-hosts or use find-links",
		e.URL, e.Host, strings.Join(e.AllowHosts, " "))
}

// NotFoundError says that no place holding a source was reachable: every
// candidate tried is in Tried, with why it failed.
type NotFoundError struct {
	URL   string
	Tried []error
}

func (e *NotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fetch %s: not found", e.URL)
	for _, err := range e.Tried {
		b.WriteString("\n  ")
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *NotFoundError) Unwrap() []error { return e.Tried }

// statusError is an HTTP response that is not a success.
type statusError struct {
	url    string
	status string
	code   int
}

func (e *statusError) Error() string { return fmt.Sprintf("GET %s: %s", e.url, e.status) }

var defaultClient = &http.Client{
	Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	},
}

// Fetch returns the source at url (http, https, file:// or a local path)
// from the CAS, downloading it first when needed: from the cache when one
// of sums is known there, else from find-links, else from url. Every
// checksum of sums, and any in url's fragment ("#md5=..."), must match.
// A remote source without a checksum is refused unless AllowUnpinned;
// a local file needs none, its sha256 is what Fetched reports.
func (f *Fetcher) Fetch(ctx context.Context, rawurl string, sums []Checksum) (*Fetched, error) {
	if f.CAS == nil {
		return nil, errors.New("fetch: Fetcher has no CAS")
	}
	clean, frag, err := SplitURL(rawurl)
	if err != nil {
		return nil, err
	}
	sums, err = MergeChecksums(append(append([]Checksum(nil), sums...), frag...))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", redact(clean), err)
	}
	src, err := parseSource(clean)
	if err != nil {
		return nil, err
	}
	if len(sums) == 0 && src.local == "" && !f.AllowUnpinned {
		return nil, &UnpinnedError{URL: src.display}
	}
	if fd := f.fromCache(src, sums); fd != nil {
		return fd, nil
	}
	lockKey := clean
	if len(sums) > 0 {
		lockKey = sums[0].String()
	}
	unlock, err := f.CAS.lock(ctx, lockKey)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", src.display, err)
	}
	defer unlock()
	// Another process may have fetched it while we waited.
	if fd := f.fromCache(src, sums); fd != nil {
		return fd, nil
	}

	var tried []error
	var findLinks []string
	if src.local == "" { // a local file is the profile's own: no mirror for it
		findLinks = f.FindLinks
	}
	for _, fl := range findLinks {
		cand, err := findLink(fl, src.name)
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %w", src.display, err)
		}
		if cand.local != "" {
			if _, err := os.Stat(cand.local); err != nil {
				continue
			}
		} else if f.Offline {
			continue
		}
		fd, err := f.fetchFrom(ctx, cand, sums, src)
		if err == nil {
			return f.pushed(ctx, fd, sums), nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		tried = append(tried, err)
	}
	if f.Shared != nil && len(sums) > 0 && src.local == "" {
		fd, err := f.fromShared(ctx, src, sums)
		if fd != nil {
			return fd, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			tried = append(tried, err)
		}
	}
	switch {
	case src.local != "":
	case f.Offline:
		tried = append(tried, fmt.Errorf("%s: offline and not in the cache", src.display))
		return nil, &NotFoundError{URL: src.display, Tried: tried}
	}
	fd, err := f.fetchFrom(ctx, src, sums, src)
	if err == nil {
		if src.local != "" {
			return fd, nil // local files are the profile's own
		}
		return f.pushed(ctx, fd, sums), nil
	}
	var mm *MismatchError
	var hna *HostNotAllowedError
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("fetch %s: %w", src.display, ctx.Err())
	case errors.As(err, &mm), errors.As(err, &hna):
		return nil, err // they name the URL
	case len(tried) == 0:
		return nil, fmt.Errorf("fetch %s: %w", src.display, err)
	}
	return nil, &NotFoundError{URL: src.display, Tried: append(tried, err)}
}

// pushed pushes a pinned download to the shared cache.
func (f *Fetcher) pushed(ctx context.Context, fd *Fetched, sums []Checksum) *Fetched {
	if len(sums) == 0 {
		return fd
	}
	keys := []string{"sha256:" + fd.SHA256}
	for _, c := range sums {
		if c.Algo != "sha256" {
			keys = append(keys, c.String())
		}
	}
	if w := f.push(ctx, keys, fd.Path, fd.SHA256); w != "" {
		fd.Warnings = append(fd.Warnings, w)
	}
	return fd
}

// location is a place to read a source from: a local file or a URL.
type location struct {
	local   string   // local file path, or ""
	url     *url.URL // http(s) URL when local == ""
	display string   // for messages, without password
	name    string   // basename
}

func parseSource(s string) (location, error) {
	if s == "" {
		return location{}, errors.New("fetch: empty url")
	}
	u, err := url.Parse(s)
	if err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		switch strings.ToLower(u.Scheme) {
		case "http", "https":
			name := path.Base(u.Path)
			if name == "/" || name == "." {
				name = ""
			}
			return location{url: u, display: u.Redacted(), name: name}, nil
		case "file":
			if u.Host != "" && u.Host != "localhost" {
				return location{}, fmt.Errorf("fetch %s: file URL with a host is not supported", s)
			}
			return location{local: u.Path, display: u.Path, name: filepath.Base(u.Path)}, nil
		default:
			return location{}, fmt.Errorf("fetch %s: unsupported URL scheme %q (use http, https, file or a path)", redact(s), u.Scheme)
		}
	}
	p, err := filepath.Abs(s)
	if err != nil {
		return location{}, fmt.Errorf("fetch %s: %w", s, err)
	}
	return location{local: p, display: s, name: filepath.Base(p)}, nil
}

// findLink makes the candidate location for name in a find-links entry.
func findLink(fl, name string) (location, error) {
	if name == "" {
		return location{}, errors.New("find-links: the URL names no file")
	}
	if u, err := url.Parse(fl); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		v := *u
		v.Path = strings.TrimSuffix(u.Path, "/") + "/" + name
		v.RawPath = ""
		return location{url: &v, display: v.Redacted(), name: name}, nil
	}
	dir := fl
	if u, err := url.Parse(fl); err == nil && u.Scheme == "file" {
		dir = u.Path
	}
	p := filepath.Join(dir, name)
	return location{local: p, display: p, name: name}, nil
}

func (f *Fetcher) fromCache(src location, sums []Checksum) *Fetched {
	for _, c := range sums {
		if h, ok := f.CAS.Lookup(c); ok {
			return f.fetched(h, src.name, "cache")
		}
	}
	if len(sums) == 0 && src.local == "" && f.Offline {
		if h, ok := f.CAS.LookupKey("url", keyOf(src.url.String())); ok {
			return f.fetched(h, src.name, "cache")
		}
	}
	return nil
}

func (f *Fetcher) fetched(sha, name, from string) *Fetched {
	fd := &Fetched{Path: f.CAS.Path(sha), SHA256: sha, Name: name, From: from}
	if fi, err := os.Stat(fd.Path); err == nil {
		fd.Size = fi.Size()
	}
	return fd
}

// fetchFrom reads one candidate into the CAS and verifies it.
func (f *Fetcher) fetchFrom(ctx context.Context, loc location, sums []Checksum, src location) (*Fetched, error) {
	w, err := f.CAS.newWriter(sums)
	if err != nil {
		return nil, err
	}
	defer w.abort()
	if loc.local != "" {
		if err := copyLocal(loc.local, w); err != nil {
			return nil, err
		}
	} else {
		if err := f.checkHost(loc.url); err != nil {
			return nil, err
		}
		if err := f.download(ctx, loc.url, w); err != nil {
			return nil, err
		}
	}
	if err := w.hash.verify(loc.display, sums); err != nil {
		return nil, err
	}
	size := w.n
	sha, err := w.commit()
	if err != nil {
		return nil, err
	}
	for _, c := range sums {
		if err := f.CAS.Record(c, sha); err != nil {
			return nil, err
		}
	}
	if len(sums) == 0 && src.url != nil {
		if err := f.CAS.RecordKey("url", keyOf(src.url.String()), sha); err != nil {
			return nil, err
		}
	}
	fd := f.fetched(sha, src.name, loc.display)
	fd.Size = size
	return fd, nil
}

func copyLocal(p string, w io.Writer) error {
	in, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	defer in.Close()
	if fi, err := in.Stat(); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("read %s: not a regular file", p)
	}
	if _, err := io.Copy(w, in); err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	return nil
}

// checkHost applies allow-hosts.
func (f *Fetcher) checkHost(u *url.URL) error {
	if len(f.AllowHosts) == 0 {
		return nil
	}
	host := strings.ToLower(u.Hostname())
	hostport := strings.ToLower(u.Host)
	for _, g := range f.AllowHosts {
		g = strings.ToLower(strings.TrimSpace(g))
		for _, h := range []string{host, hostport} {
			ok, err := path.Match(g, h)
			if err != nil {
				return fmt.Errorf("allow-hosts: bad pattern %q: %w", g, err)
			}
			if ok {
				return nil
			}
		}
	}
	return &HostNotAllowedError{URL: u.Redacted(), Host: host, AllowHosts: f.AllowHosts}
}

// client returns the HTTP client; with allow-hosts, a copy that also
// refuses redirects to hosts outside them.
func (f *Fetcher) client() *http.Client {
	c := f.Client
	if c == nil {
		c = defaultClient
	}
	if len(f.AllowHosts) == 0 {
		return c
	}
	cc := *c
	next := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := f.checkHost(req.URL); err != nil {
			return err
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}

func (f *Fetcher) retries() int {
	switch {
	case f.Retries == 0:
		return 3
	case f.Retries < 0:
		return 0
	}
	return f.Retries
}

// download GETs u into w, retrying transient failures and resuming a
// partial body with a Range request when the server allows it.
func (f *Fetcher) download(ctx context.Context, u *url.URL, w *blobWriter) error {
	delay := f.Backoff
	if delay <= 0 {
		delay = time.Second
	}
	var validator string
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (after: %v)", ctx.Err(), lastErr)
			case <-t.C:
			}
			delay = min(2*delay, 30*time.Second)
		}
		err := f.get(ctx, u, w, &validator)
		if err == nil {
			return nil
		}
		lastErr = err
		if ctx.Err() != nil || !retryable(err) || attempt >= f.retries() {
			if attempt > 0 {
				return fmt.Errorf("%w (after %d attempts)", err, attempt+1)
			}
			return err
		}
	}
}

func retryable(err error) bool {
	var se *statusError
	var hna *HostNotAllowedError
	if errors.As(err, &hna) {
		return false
	}
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusTooManyRequests || se.code == http.StatusRequestTimeout
	}
	return true // network errors and truncated bodies
}

// get makes one attempt. When w already holds the start of the body and
// the server gave a validator (ETag or Last-Modified), it asks for the rest.
func (f *Fetcher) get(ctx context.Context, u *url.URL, w *blobWriter, validator *string) error {
	display := u.Redacted()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", display, err)
	}
	req.Header.Set("User-Agent", "hbuild")
	resuming := w.n > 0 && *validator != ""
	if resuming {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(w.n, 10)+"-")
		req.Header.Set("If-Range", *validator)
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", display, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && resuming && contentRangeStart(resp.Header.Get("Content-Range")) == w.n:
	case resp.StatusCode == http.StatusOK:
		if err := w.reset(); err != nil {
			return fmt.Errorf("GET %s: %w", display, err)
		}
		*validator = resp.Header.Get("ETag")
		if *validator == "" || strings.HasPrefix(*validator, "W/") {
			*validator = resp.Header.Get("Last-Modified")
		}
	default:
		if err := w.reset(); err != nil {
			return fmt.Errorf("GET %s: %w", display, err)
		}
		return &statusError{url: display, status: resp.Status, code: resp.StatusCode}
	}
	total := int64(-1)
	if resp.ContentLength >= 0 {
		total = w.n + resp.ContentLength
	}
	var dst io.Writer = w
	if f.Progress != nil {
		dst = &progressWriter{w: w, fn: f.Progress, url: display, total: total}
	}
	if _, err := io.Copy(dst, resp.Body); err != nil {
		return fmt.Errorf("GET %s: read body after %d bytes: %w", display, w.n, err)
	}
	if total >= 0 && w.n != total {
		return fmt.Errorf("GET %s: body has %d bytes, want %d: %w", display, w.n, total, io.ErrUnexpectedEOF)
	}
	return nil
}

func contentRangeStart(cr string) int64 {
	// "bytes 100-999/1000"
	s, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return -1
	}
	s, _, ok = strings.Cut(s, "-")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

type progressWriter struct {
	w     *blobWriter
	fn    func(string, int64, int64)
	url   string
	total int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.fn(p.url, p.w.n, p.total)
	return n, err
}

// FetchUnpinned fetches a remote file that has no checksum to check it
// against: a find-links page, or a distribution file that find-links name by
// project and version. With immutable set (a versioned distribution file)
// a copy fetched from the same URL before is used without asking the
// server; otherwise (an index page) the server is asked each time and the
// cached copy serves only when offline. allow-hosts applies as to Fetch.
func (f *Fetcher) FetchUnpinned(ctx context.Context, rawurl string, immutable bool) (*Fetched, error) {
	clean, frag, err := SplitURL(rawurl)
	if err != nil {
		return nil, err
	}
	if len(frag) > 0 {
		return f.Fetch(ctx, rawurl, nil)
	}
	src, err := parseSource(clean)
	if err != nil {
		return nil, err
	}
	if src.local == "" && immutable {
		if h, ok := f.CAS.LookupKey("url", keyOf(src.url.String())); ok {
			return f.fetched(h, src.name, "cache"), nil
		}
	}
	g := *f
	g.AllowUnpinned = true
	g.FindLinks = nil // the URL came from find-links: no mirror of a mirror
	return g.Fetch(ctx, rawurl, nil)
}
