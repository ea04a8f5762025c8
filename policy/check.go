package policy

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Tree is a directory on the host and the path where it is seen at run
// time, e.g. {Dir: "/cache/parts/ab12/tree", Path: "/opt/hbuild/parts/zlib"}.
type Tree struct {
	Dir  string `json:"dir"`
	Path string `json:"path"`
}

// CheckPart checks every ELF file of a part. Needed libraries must come
// from the part itself, from deps (found through RPATH/RUNPATH) or from
// the runtime base's glibc. runtime.Dir may be "" to use the built-in list
// of glibc sonames instead of looking into a base tree; runtime.Path
// defaults to "/". The trees make one run-time view in which a path
// belongs to the tree with the longest (most specific) Path holding it:
// with the runtime base at "/" (Tree{Dir: baseDir, Path: "/"}), the part
// and deps seen at, say, /opt/hbuild/parts/... are found in their own
// directories, never in the base's, and the base's libc.so.6 answers the
// symbol-version checks. The error is for trees that cannot be read;
// policy problems are in the report.
func CheckPart(part Tree, deps []Tree, runtime Tree, opts Options) (*Report, error) {
	if part.Dir == "" {
		return nil, errors.New("check part: no directory")
	}
	if part.Path == "" {
		abs, err := filepath.Abs(part.Dir)
		if err != nil {
			return nil, fmt.Errorf("check part %s: %w", part.Dir, err)
		}
		part.Path = filepath.ToSlash(abs)
	}
	if !path.IsAbs(part.Path) {
		return nil, fmt.Errorf("check part %s: run-time path %q is not absolute", part.Dir, part.Path)
	}
	part.Path = path.Clean(part.Path)
	mounts := []mount{{path: part.Path, dir: part.Dir}}
	c := &checker{opts: opts, part: part}
	for _, d := range deps {
		if d.Dir == "" || !path.IsAbs(d.Path) {
			return nil, fmt.Errorf("check part %s: dependency %+v needs a directory and an absolute run-time path", part.Path, d)
		}
		d.Path = path.Clean(d.Path)
		c.deps = append(c.deps, d)
		mounts = append(mounts, mount{path: d.Path, dir: d.Dir})
	}
	if runtime.Dir != "" {
		if runtime.Path == "" {
			runtime.Path = "/"
		}
		runtime.Path = path.Clean(runtime.Path)
		c.runtime = &runtime
		mounts = append(mounts, mount{path: runtime.Path, dir: runtime.Dir})
	}
	c.view = newView(mounts)
	return c.run()
}

// CheckRoot checks every ELF file of a whole file system (an extracted
// image or a root directory): see the package documentation for its rules.
func CheckRoot(root string, opts Options) (*Report, error) {
	if root == "" {
		return nil, errors.New("check root: no directory")
	}
	t := Tree{Dir: root, Path: "/"}
	c := &checker{opts: opts, part: t, runtime: &t, rootMode: true}
	c.view = newView([]mount{{path: "/", dir: root}})
	return c.run()
}

type checker struct {
	opts     Options
	rootMode bool
	part     Tree
	deps     []Tree
	runtime  *Tree // nil: the built-in glibc list
	view     *view
	maxGlibc []int

	confOnce sync.Once
	confDirs []string // the runtime base's /etc/ld.so.conf directories
	elfs     sync.Map // host path -> *parsed
	defDirs  sync.Map // [machine, class] -> default directories
	verdefs  sync.Map // host path -> map[string]bool of defined versions
}

type parsed struct {
	e   *ELF
	err error
}

// scanned is one ELF file of the tree checked.
type scanned struct {
	rel  string // slash path relative to the tree
	path string // run-time path
	host string
	e    *ELF
	err  error
}

func (c *checker) run() (*Report, error) {
	if c.opts.MaxGlibc != "" {
		v, ok := parseVersion(c.opts.MaxGlibc)
		if !ok {
			return nil, fmt.Errorf("check %s: max-glibc %q is not a version such as 2.28", c.part.Path, c.opts.MaxGlibc)
		}
		c.maxGlibc = v
	}
	files, nscanned, nignored, err := c.scan()
	if err != nil {
		return nil, err
	}
	r := &Report{Root: c.part.Path, Scanned: nscanned, Ignored: nignored, WarnOnly: c.opts.WarnOnly}
	r.Files = make([]FileReport, len(files))
	vs := make([][]Violation, len(files))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				r.Files[i], vs[i] = c.checkFile(files[i])
			}
		})
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	for i := range files {
		r.Violations = append(r.Violations, vs[i]...)
		for fam, v := range r.Files[i].Versions {
			addVersion(&r.MaxVersions, fam+"_"+v)
		}
	}
	sort.SliceStable(r.Violations, func(i, j int) bool {
		a, b := r.Violations[i], r.Violations[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Needed < b.Needed
	})
	if r.Files == nil {
		r.Files = []FileReport{}
	}
	if r.Violations == nil {
		r.Violations = []Violation{}
	}
	return r, nil
}

// scan walks the tree and parses every regular file that starts with the
// ELF magic, in parallel. Files are returned sorted by path.
func (c *checker) scan() (files []*scanned, nscanned, nignored int, err error) {
	type job struct{ rel, host string }
	jobs := make(chan job, 256)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 2 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for j := range jobs {
				e, perr := parseFile(j.host)
				if errors.Is(perr, errNotELF) || errors.Is(perr, fs.ErrNotExist) || perr == nil && (e.DebugOnly || e.Type != elf.ET_EXEC && e.Type != elf.ET_DYN) {
					continue
				}
				s := &scanned{rel: j.rel, path: path.Join(c.part.Path, j.rel), host: j.host, e: e, err: perr}
				c.elfs.Store(j.host, &parsed{e: e, err: perr})
				mu.Lock()
				files = append(files, s)
				mu.Unlock()
			}
		})
	}
	root := c.part.Dir
	walkErr := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while we walk
		}
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		rel, rerr := filepath.Rel(root, p)
		if rerr != nil {
			return rerr
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if c.rootMode && (rel == "proc" || rel == "sys" || rel == "dev") {
				return filepath.SkipDir
			}
			if rel != "." && c.opts.ignored(rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if c.opts.ignored(rel) {
			nignored++
			return nil
		}
		nscanned++
		jobs <- job{rel: rel, host: p}
		return nil
	})
	close(jobs)
	wg.Wait()
	if walkErr != nil {
		return nil, 0, 0, fmt.Errorf("scan %s: %w", root, walkErr)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	return files, nscanned, nignored, nil
}

// parseFile parses one file, reading only what ParseELF asks for.
func parseFile(name string) (*ELF, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return ParseELF(f, fi.Size())
}

// loadELF parses a candidate library, once per host file.
func (c *checker) loadELF(host string) (*ELF, error) {
	if p, ok := c.elfs.Load(host); ok {
		p := p.(*parsed)
		return p.e, p.err
	}
	e, err := parseFile(host)
	p, _ := c.elfs.LoadOrStore(host, &parsed{e: e, err: err})
	return p.(*parsed).e, p.(*parsed).err
}

// object is an ELF object loaded while following a root file's needs.
type object struct {
	path    string // run-time path it was loaded from ($ORIGIN)
	host    string
	e       *ELF
	loader  *object
	scanned bool // part of the checked tree: checked on its own too
	from    string
	tree    string
	paths   *expandedPaths
}

// resolution is where one need was found, or why it is not allowed.
type resolution struct {
	path string // run-time path found at
	real string
	host string
	e    *ELF
	from string
	tree string
	via  string
	kind string // violation kind, "" when allowed
	why  string
	fix  string
}

func kindOf(e *ELF) string {
	switch {
	case !e.Dynamic && e.Type == elf.ET_EXEC:
		return "static-executable"
	case e.Type == elf.ET_EXEC:
		return "executable"
	case e.Interp != "":
		return "pie-executable"
	case !e.Dynamic:
		return "static-pie"
	}
	return "shared-object"
}

// checkFile follows one root file's needs as ld.so would load them.
func (c *checker) checkFile(s *scanned) (FileReport, []Violation) {
	fr := FileReport{Path: s.path}
	if s.err != nil {
		fr.Kind = "unreadable"
		fr.Error = s.err.Error()
		return fr, []Violation{{File: s.path, Kind: KindBadELF,
			Why: "cannot read it as ELF: " + s.err.Error(),
			Fix: "rebuild or remove the file, or skip it with policy-ignore-paths"}}
	}
	e := s.e
	fr.Kind, fr.Interp, fr.Soname, fr.RPath, fr.RunPath = kindOf(e), e.Interp, e.Soname, e.RPath, e.RunPath
	fr.Versions = MaxVersions(e.VersionNeeds)
	var out []Violation
	seen := map[string]bool{}
	add := func(v Violation) {
		k := v.Needed + "\x00" + v.Kind + "\x00" + v.Why
		if !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	for _, v := range c.checkPaths(s) {
		add(v)
	}
	if e.Interp != "" {
		if v, bad := c.checkInterp(s); bad {
			add(v)
		}
	}
	if c.maxGlibc != nil {
		if g, ok := fr.Versions["GLIBC"]; ok {
			n, _ := parseVersion(g)
			if compareVersions(n, c.maxGlibc) > 0 {
				lib := "libc.so.6"
				for _, vn := range e.VersionNeeds {
					for _, v := range vn.Versions {
						if v == "GLIBC_"+g {
							lib = vn.File
						}
					}
				}
				add(Violation{File: s.path, Needed: lib, Kind: KindMaxGlibc,
					Why: fmt.Sprintf("needs GLIBC_%s, above the policy maximum %s", g, c.opts.MaxGlibc),
					Fix: "build on a base with an older glibc, or raise policy-max-glibc"})
			}
		}
	}
	versionsOf := map[string][]string{}
	for _, vn := range e.VersionNeeds {
		versionsOf[vn.File] = append(versionsOf[vn.File], vn.Versions...)
	}

	root := &object{path: s.path, host: s.host, e: e, scanned: true, from: FromPart}
	type found struct {
		path, host string
		e          *ELF
	}
	direct := map[string]found{}
	loaded := []*object{root}
	byName := map[string]*object{}
	byReal := map[string]*object{s.path: root}
	if e.Soname != "" {
		byName[e.Soname] = root
	}
	for i := 0; i < len(loaded); i++ {
		o := loaded[i]
		for _, name := range o.e.Needed {
			res := c.resolve(name, o, byName)
			if o == root {
				fr.Needed = append(fr.Needed, Needed{Name: name, Path: res.path, From: res.from, Tree: res.tree, Via: res.via, Versions: versionsOf[name]})
				if res.kind == "" && res.e != nil {
					direct[name] = found{res.path, res.host, res.e}
				}
			}
			if res.kind != "" {
				switch {
				case o == root:
					add(Violation{File: s.path, Needed: name, Kind: res.kind, Why: res.why, Fix: res.fix})
				case !o.scanned:
					add(Violation{File: s.path, Needed: name, Kind: res.kind,
						Why: fmt.Sprintf("needed by %s, which it loads: %s", o.path, res.why), Fix: res.fix})
				}
				continue
			}
			if res.e == nil || (res.from != FromPart && res.from != FromDependency) {
				continue
			}
			if obj, ok := byReal[res.real]; ok {
				byName[name] = obj
				continue
			}
			obj := &object{path: res.path, host: res.host, e: res.e, loader: o, from: res.from, tree: res.tree,
				scanned: res.from == FromPart}
			loaded = append(loaded, obj)
			byReal[res.real] = obj
			byName[name] = obj
			if res.e.Soname != "" {
				byName[res.e.Soname] = obj
			}
		}
	}
	// Like ld.so, refuse a library that lacks a (non-weak) version the
	// file needs from it: "version `GLIBC_2.38' not found".
	for _, vn := range e.VersionNeeds {
		lib, ok := direct[vn.File]
		if !ok {
			continue
		}
		defs := c.definedVersions(lib.host, lib.e)
		if defs == nil {
			continue
		}
		for _, v := range vn.Versions {
			if defs[v] || slices.Contains(vn.Weak, v) {
				continue
			}
			why := fmt.Sprintf("version %s is not defined by %s", v, lib.path)
			if fam, _, ok := strings.Cut(v, "_"); ok {
				var newest map[string]string
				for d := range defs {
					addVersion(&newest, d)
				}
				if n, ok := newest[fam]; ok {
					why += fmt.Sprintf(" (its newest is %s_%s)", fam, n)
				}
			}
			fix := fmt.Sprintf("link against the %s the file will run with", vn.File)
			if isGlibc(vn.File) {
				fix = "build on a toolchain base whose glibc is not newer than the runtime base's, or run on a newer runtime base"
			}
			add(Violation{File: s.path, Needed: vn.File, Kind: KindVersion, Why: why, Fix: fix})
		}
	}
	return fr, out
}

// definedVersions returns the versions a library defines, once per file;
// nil when it defines none (the loader then checks nothing).
func (c *checker) definedVersions(host string, e *ELF) map[string]bool {
	if e.verdefNum == 0 || host == "" {
		return nil
	}
	if d, ok := c.verdefs.Load(host); ok {
		return d.(map[string]bool)
	}
	var defs map[string]bool
	if f, err := os.Open(host); err == nil {
		if fi, err := f.Stat(); err == nil {
			if vs, err := e.DefinedVersions(f, fi.Size()); err == nil && len(vs) > 0 {
				defs = make(map[string]bool, len(vs))
				for _, v := range vs {
					defs[v] = true
				}
			}
		}
		f.Close()
	}
	d, _ := c.verdefs.LoadOrStore(host, defs)
	return d.(map[string]bool)
}

// checkPaths checks the file's effective RPATH and its RUNPATH entries.
func (c *checker) checkPaths(s *scanned) []Violation {
	var out []Violation
	check := func(tag string, entries []string) {
		for _, raw := range entries {
			bad := func(why, fix string) {
				out = append(out, Violation{File: s.path, Kind: KindRPath, Why: fmt.Sprintf("%s entry %q %s", tag, raw, why), Fix: fix})
			}
			if raw == "" {
				bad("is empty, which means the current directory at run time", "remove the empty entry (a stray ':' in -rpath)")
				continue
			}
			dir := c.expand(raw, path.Dir(s.path), s.e)
			if !path.IsAbs(dir) {
				bad("is relative, so it depends on the current directory at run time", "use an absolute path or $ORIGIN")
				continue
			}
			dir = path.Clean(dir)
			if c.rootMode {
				// $ORIGIN entries stay where the file is: what they find
				// is judged by where it lives.
				if c.isSystemDir(dir) && !strings.Contains(raw, "ORIGIN") {
					bad("points into the system library directory "+dir+", so the file would load the base's or host's libraries", "remove it and link against the libraries of a part through RPATH/RUNPATH")
				}
				continue
			}
			if within(dir, c.part.Path) {
				continue
			}
			ok := false
			for _, d := range c.deps {
				if within(dir, d.Path) {
					ok = true
					break
				}
			}
			if !ok {
				where := "is"
				if dir != raw {
					where = "points to " + dir + ","
				}
				bad(fmt.Sprintf("%s outside the part %s and its dependencies", where, c.part.Path),
					"remove it (for a prebuilt file: patchelf --set-rpath), or declare the part that provides that directory as a dependency")
			}
		}
	}
	if !s.e.HasRunPath {
		check("RPATH", s.e.RPath)
	}
	check("RUNPATH", s.e.RunPath)
	return out
}

// checkInterp checks that the program interpreter is glibc's loader (and,
// for a file system, that it is there).
func (c *checker) checkInterp(s *scanned) (Violation, bool) {
	interp := s.e.Interp
	v := Violation{File: s.path, Needed: interp, Kind: KindInterp}
	if !isGlibc(path.Base(interp)) || !path.IsAbs(interp) {
		v.Why = "the program interpreter is not glibc's dynamic loader"
		v.Fix = "link with the toolchain base's default dynamic linker"
		return v, true
	}
	if c.runtime != nil {
		if l, err := c.view.resolve(path.Join(c.runtime.Path, interp)); err != nil || !l.mode.IsRegular() {
			v.Why = "the program interpreter is not in the runtime base"
			v.Fix = "use a runtime base with glibc for this architecture"
			return v, true
		}
	}
	return v, false
}

// expand replaces the dynamic string tokens of an RPATH/RUNPATH entry.
func (c *checker) expand(s, origin string, e *ELF) string {
	if !strings.Contains(s, "$") {
		return s
	}
	ma, platform := multiarch(e)
	r := strings.NewReplacer("${ORIGIN}", origin, "$ORIGIN", origin,
		"${LIB}", "lib/"+ma, "$LIB", "lib/"+ma,
		"${PLATFORM}", platform, "$PLATFORM", platform)
	return r.Replace(s)
}

// multiarch returns Debian's multiarch triplet and the $PLATFORM name for
// an ELF file's machine.
func multiarch(e *ELF) (triplet, platform string) {
	switch e.Machine {
	case elf.EM_X86_64:
		return "x86_64-linux-gnu", "x86_64"
	case elf.EM_386:
		return "i386-linux-gnu", "i686"
	case elf.EM_AARCH64:
		return "aarch64-linux-gnu", "aarch64"
	case elf.EM_ARM:
		return "arm-linux-gnueabihf", "v7l"
	case elf.EM_PPC64:
		return "powerpc64le-linux-gnu", "power8"
	case elf.EM_S390:
		return "s390x-linux-gnu", "s390x"
	case elf.EM_RISCV:
		return "riscv64-linux-gnu", "riscv64"
	}
	return "unknown-linux-gnu", "unknown"
}

// defaultDirs are the runtime base's library directories, searched last,
// as run-time paths: /etc/ld.so.conf's, then ld.so's built-in ones.
func (c *checker) defaultDirs(e *ELF) []string {
	if c.runtime == nil {
		return nil
	}
	key := [2]uint16{uint16(e.Machine), uint16(e.Class)}
	if d, ok := c.defDirs.Load(key); ok {
		return d.([]string)
	}
	c.confOnce.Do(func() { c.confDirs = c.readLdSoConf("/etc/ld.so.conf", 0) })
	ma, _ := multiarch(e)
	dirs := append([]string(nil), c.confDirs...)
	dirs = append(dirs, "/lib/"+ma, "/usr/lib/"+ma)
	if e.Class == elf.ELFCLASS64 {
		dirs = append(dirs, "/lib64", "/usr/lib64")
	}
	dirs = append(dirs, "/lib", "/usr/lib")
	for i, d := range dirs {
		dirs[i] = path.Join(c.runtime.Path, d)
	}
	c.defDirs.Store(key, dirs)
	return dirs
}

// readLdSoConf reads an ld.so.conf of the runtime base (run-time path p),
// following include lines, the way ldconfig does.
func (c *checker) readLdSoConf(p string, depth int) []string {
	if depth > 8 {
		return nil
	}
	l, err := c.view.resolve(path.Join(c.runtime.Path, p))
	if err != nil || !l.mode.IsRegular() {
		return nil
	}
	f, err := os.Open(l.host)
	if err != nil {
		return nil
	}
	defer f.Close()
	var dirs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if inc, ok := strings.CutPrefix(line, "include"); ok && (inc == "" || inc[0] == ' ' || inc[0] == '\t') {
			for _, pat := range strings.Fields(inc) {
				if !path.IsAbs(pat) {
					pat = path.Join(path.Dir(p), pat)
				}
				for _, m := range c.globRuntime(pat) {
					dirs = append(dirs, c.readLdSoConf(m, depth+1)...)
				}
			}
			continue
		}
		for _, d := range strings.FieldsFunc(line, func(r rune) bool { return r == ':' || r == ',' || r == ' ' || r == '\t' }) {
			if path.IsAbs(d) {
				dirs = append(dirs, path.Clean(d))
			}
		}
	}
	return dirs
}

// globRuntime expands a glob in the last path element of a run-time path
// of the runtime base, sorted.
func (c *checker) globRuntime(pat string) []string {
	dir, base := path.Split(pat)
	l, err := c.view.resolve(path.Join(c.runtime.Path, dir))
	if err != nil || !l.mode.IsDir() {
		return nil
	}
	ents, err := os.ReadDir(l.host)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if ok, _ := path.Match(base, e.Name()); ok {
			out = append(out, path.Join(dir, e.Name()))
		}
	}
	return out
}

// systemPrefixes are where a file system keeps the base's libraries.
var systemPrefixes = []string{"/lib", "/lib32", "/lib64", "/libx32", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libx32", "/usr/local/lib", "/usr/local/lib64"}

// isSystemDir reports whether a run-time directory holds the base's (or a
// distribution's) libraries in CheckRoot's view.
func (c *checker) isSystemDir(dir string) bool {
	for _, p := range systemPrefixes {
		if within(dir, p) {
			return true
		}
	}
	c.confOnce.Do(func() { c.confDirs = c.readLdSoConf("/etc/ld.so.conf", 0) })
	for _, d := range c.confDirs {
		if dir == d {
			return true
		}
	}
	return false
}

// resolve finds the library name needed by o, in ld.so's order.
func (c *checker) resolve(name string, o *object, byName map[string]*object) resolution {
	if obj, ok := byName[name]; ok {
		return resolution{path: obj.path, host: obj.host, e: obj.e, from: obj.from, tree: obj.tree, via: "loaded"}
	}
	if strings.Contains(name, "$") {
		// ld.so expands $ORIGIN and the other tokens in DT_NEEDED too.
		name = c.expand(name, path.Dir(o.path), o.e)
	}
	if strings.Contains(name, "/") {
		if !path.IsAbs(name) {
			return resolution{from: FromMissing, kind: KindNotFound,
				why: "the needed name is a relative path, resolved against the current directory at run time",
				fix: "relink with -l or a soname instead of a relative path"}
		}
		if r, ok := c.try(path.Clean(name), o.e, "path"); ok {
			return c.classify(name, r)
		}
		return c.notFound(name, o, "")
	}
	for _, g := range c.searchOrder(o) {
		for _, d := range g.dirs {
			if !path.IsAbs(d) || !c.view.has(d, name) {
				continue
			}
			p := d + "/" + name
			if d == "/" {
				p = d + name
			}
			if r, ok := c.try(p, o.e, g.via); ok {
				return c.classify(name, r)
			}
		}
	}
	var searched []string
	for _, g := range c.searchOrder(o) {
		for _, d := range g.dirs {
			if path.IsAbs(d) {
				searched = append(searched, d)
			}
		}
	}
	return c.notFound(name, o, strings.Join(searched, ":"))
}

// searchGroup is one step of the loader's search: directories and how
// they were found.
type searchGroup struct {
	dirs []string
	via  string
}

// searchOrder returns where ld.so looks for the needs of o: the DT_RPATH
// of o and of the objects that loaded it (unless o has a DT_RUNPATH), o's
// DT_RUNPATH, then the default directories (unless -z nodeflib).
func (c *checker) searchOrder(o *object) []searchGroup {
	var out []searchGroup
	if !o.e.HasRunPath {
		for l := o; l != nil; l = l.loader {
			if l.e.HasRunPath || len(l.e.RPath) == 0 {
				continue
			}
			out = append(out, searchGroup{l.expanded(c).rpath, "RPATH"})
		}
	}
	if len(o.e.RunPath) > 0 {
		out = append(out, searchGroup{o.expanded(c).runpath, "RUNPATH"})
	}
	if !o.e.NoDefaultLib() {
		out = append(out, searchGroup{c.defaultDirs(o.e), "default"})
	}
	return out
}

// expandedPaths are an object's RPATH and RUNPATH with $ORIGIN and the
// other tokens replaced, computed once per object.
type expandedPaths struct{ rpath, runpath []string }

func (o *object) expanded(c *checker) *expandedPaths {
	if o.paths == nil {
		o.paths = &expandedPaths{rpath: c.expandAll(o.e.RPath, o), runpath: c.expandAll(o.e.RunPath, o)}
	}
	return o.paths
}

func (c *checker) expandAll(entries []string, o *object) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		if e != "" {
			out = append(out, path.Clean(c.expand(e, path.Dir(o.path), o.e)))
		}
	}
	return out
}

// try looks a candidate up in the run-time view; like ld.so it skips files
// of another ELF class or machine.
func (c *checker) try(p string, want *ELF, via string) (resolution, bool) {
	l, err := c.view.resolve(p)
	if err != nil || !l.mode.IsRegular() {
		return resolution{}, false
	}
	e, err := c.loadELF(l.host)
	if err != nil || e.DebugOnly || e.Class != want.Class || e.Machine != want.Machine || e.Data != want.Data {
		return resolution{}, false
	}
	return resolution{path: p, real: l.real, host: l.host, e: e, via: via}, true
}

// classify says whether a library found at r may be used.
func (c *checker) classify(name string, r resolution) resolution {
	if c.rootMode {
		if !c.isSystemDir(path.Dir(r.real)) {
			r.from = FromPart
			return r
		}
		if c.opts.fromBase(name) {
			r.from = FromBase
			return r
		}
		r.from, r.kind = FromHost, KindHostLibrary
		r.why = fmt.Sprintf("found at %s, a library of the base image's system directories that is not glibc (a host library)", r.real)
		r.fix = fmt.Sprintf("build %s as a part and link against it with RPATH/RUNPATH, or allow it with policy-allow-libs", name)
		if name == "libstdc++.so.6" || name == "libgcc_s.so.1" {
			r.fix = "allow it (policy-allow-libstdcxx / policy-allow-libgcc) or link it statically"
		}
		return r
	}
	// The most specific tree holding the file is the one it comes from,
	// as in the view (the part first on a tie).
	if within(r.real, c.part.Path) {
		r.from, r.tree = FromPart, c.part.Path
	}
	for _, d := range c.deps {
		if within(r.real, d.Path) && (r.tree == "" || len(d.Path) > len(r.tree)) {
			r.from, r.tree = FromDependency, d.Path
		}
	}
	if r.tree != "" {
		return r
	}
	if c.opts.fromBase(name) {
		r.from = FromBase
		return r
	}
	r.from, r.kind = FromHost, KindHostLibrary
	r.why = fmt.Sprintf("found at %s in the runtime base, which provides only glibc", r.real)
	r.fix = fmt.Sprintf("declare a part that provides %s and add its lib directory to RPATH", name)
	return r
}

// notFound is the answer for a library found nowhere.
func (c *checker) notFound(name string, o *object, searched string) resolution {
	r := resolution{from: FromMissing, kind: KindNotFound}
	base := c.opts.fromBase(name)
	switch {
	case base && c.runtime == nil:
		r.from, r.kind, r.via = FromBase, "", "glibc"
		if !isGlibc(name) && c.opts.allowed(name) {
			r.from, r.via = FromAllowed, "allow-libs"
		}
		return r
	case c.opts.allowed(name):
		r.from, r.kind, r.via = FromAllowed, "", "allow-libs"
		return r
	case base:
		r.why = "not found in the runtime base"
		if o.e.NoDefaultLib() {
			r.why += " (the file is linked with -z nodeflib, so the base's directories are not searched)"
		}
		r.fix = "use a runtime base that provides it"
		return r
	case name == "libstdc++.so.6" || name == "libgcc_s.so.1":
		r.why = "not allowed from the runtime base by the policy (policy-allow-libstdcxx / policy-allow-libgcc are off)"
		r.fix = fmt.Sprintf("set the policy option back to true, link it statically, or declare a part that provides %s", name)
		return r
	}
	where := "not found in the part, its dependencies or the runtime base's glibc"
	if c.rootMode {
		where = "not found in the file system"
	}
	if searched != "" {
		where += " (searched " + searched + ")"
	} else {
		where += " (the file has no RPATH/RUNPATH)"
	}
	r.why = where
	if c.rootMode {
		r.fix = fmt.Sprintf("add a part that provides %s and link against it with RPATH/RUNPATH", name)
	} else {
		r.fix = fmt.Sprintf("declare a part that provides %s and add its lib directory to RPATH", name)
	}
	return r
}
