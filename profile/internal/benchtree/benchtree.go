// Package benchtree writes a synthetic tree of buildout profiles shaped like
// SlapOS's: components that extend the components they depend on (so every
// shared base is reached through many paths: diamonds), a buildout.hash.cfg
// beside each component, stacks that extend groups of components and one
// root that extends the stacks. The profiles use `+=` across extends,
// `<=` macros and `${}` substitution everywhere. It feeds the profile
// package's benchmark and bench/profile.sh.
package benchtree

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
)

// Config sizes the tree.
type Config struct {
	Files    int   // total number of files (root + stacks + 2 per component)
	Sections int   // total number of distinct sections, approximately
	Stacks   int   // number of stack files
	Levels   int   // dependency depth of the components
	Fanout   int   // components each component extends (from the level below)
	Seed     int64 // the tree is a pure function of the Config
}

// Default is the benchmark tree: 400 files, about 3,000 sections.
func Default() Config {
	return Config{Files: 400, Sections: 3000, Stacks: 11, Levels: 6, Fanout: 2, Seed: 1}
}

// Stats describes a generated tree.
type Stats struct {
	Files    int
	Sections int
	// Opens is how many times zc.buildout 2.13 opens and merges a file
	// while loading the root: once per path from the root (it does not
	// memoise), against once per file for hbuild.
	Opens int64
}

type file struct {
	path    string
	extends []int // indexes of extended files
	text    string
}

// Generate writes the tree into dir (which must exist) and returns the path
// of the root profile.
func Generate(dir string, cfg Config) (string, Stats, error) {
	if cfg.Stacks < 1 || cfg.Levels < 1 || cfg.Fanout < 1 {
		return "", Stats{}, fmt.Errorf("benchtree: bad config %+v", cfg)
	}
	ncomp := (cfg.Files - 1 - cfg.Stacks) / 2
	if ncomp < cfg.Levels {
		return "", Stats{}, fmt.Errorf("benchtree: %d files are too few for %d levels", cfg.Files, cfg.Levels)
	}
	per := (cfg.Sections - 8 - 2*cfg.Stacks) / ncomp
	if per < 5 {
		per = 5
	}
	rng := rand.New(rand.NewSource(cfg.Seed))
	var files []file
	stats := Stats{}

	// Components, level by level; component 0 is the common base.
	level := make([]int, ncomp)
	byLevel := make([][]int, cfg.Levels)
	for i := 0; i < ncomp; i++ {
		l := 0
		if i > 0 {
			l = 1 + (i-1)*(cfg.Levels-1)/max(1, ncomp-1)
			if l >= cfg.Levels {
				l = cfg.Levels - 1
			}
		}
		level[i] = l
		byLevel[l] = append(byLevel[l], i)
	}
	// Dependencies: the first goes round the level below so that every
	// component is reached; the others are random (diamonds).
	depsOf := make([][]int, ncomp)
	extended := make([]bool, ncomp)
	for i := 1; i < ncomp; i++ {
		l := level[i]
		below := byLevel[l-1]
		pos := 0
		for pos < len(byLevel[l]) && byLevel[l][pos] != i {
			pos++
		}
		deps := []int{below[pos%len(below)]}
		seen := map[int]bool{deps[0]: true}
		for k := 1; k < cfg.Fanout && k < len(below); k++ {
			d := below[rng.Intn(len(below))]
			if seen[d] {
				continue
			}
			seen[d] = true
			deps = append(deps, d)
		}
		depsOf[i] = deps
		for _, d := range deps {
			extended[d] = true
		}
	}
	for l := 0; l+1 < cfg.Levels; l++ {
		up := byLevel[l+1]
		for k, c := range byLevel[l] {
			if !extended[c] {
				u := up[k%len(up)]
				depsOf[u] = append(depsOf[u], c)
				extended[c] = true
			}
		}
	}
	compFile := make([]int, ncomp)
	for i := 0; i < ncomp; i++ {
		name := fmt.Sprintf("c%03d", i)
		// The hash file.
		var h strings.Builder
		fmt.Fprintf(&h, "# generated: not a buildout file\n[%s-patch]\nfilename = %s.patch\nmd5sum = %032x\n", name, name, rng.Uint64())
		fmt.Fprintf(&h, "\n[%s-script]\nfilename = %s-hook.py\nmd5sum = %032x\n", name, name, rng.Uint64())
		files = append(files, file{path: filepath.Join("component", name, "buildout.hash.cfg"), text: h.String()})
		hashIdx := len(files) - 1
		stats.Sections += 2

		deps := depsOf[i]
		var b strings.Builder
		b.WriteString("[buildout]\nextends =\n")
		var ext []int
		for _, d := range deps {
			fmt.Fprintf(&b, "  ../c%03d/buildout.cfg\n", d)
			ext = append(ext, compFile[d])
		}
		b.WriteString("  buildout.hash.cfg\n")
		ext = append(ext, hashIdx)
		b.WriteString("parts =\n\n")
		if i == 0 {
			b.WriteString("[gcc]\nlocation = ${buildout:parts-directory}/gcc\nflags = -O2\n\n")
			b.WriteString("[base-env]\nPATH = ${gcc:location}/bin:/usr/bin\nCFLAGS = ${gcc:flags} -I${:prefix}/include\nprefix = ${buildout:parts-directory}/${:_buildout_section_name_}\nlist =\n  a\n  b\n\n")
			b.WriteString("[gcc-env]\nflags = -O2\n\n[versions]\nsetuptools = 44.1.1\n\n")
			stats.Sections += 4
		}
		fmt.Fprintf(&b, "[%s]\nrecipe = slapos.recipe.cmmi\nversion = 1.%d.%d\n", name, i%7, i)
		fmt.Fprintf(&b, "url = https://downloads.invalid/%s/%s-${:version}.tar.gz\nmd5sum = %032x\n", name, name, rng.Uint64())
		fmt.Fprintf(&b, "patches = ${%s-patch:filename}#${%s-patch:md5sum}\n", name, name)
		b.WriteString("location = ${buildout:parts-directory}/${:_buildout_section_name_}\nconfigure-options =\n  --prefix=${:location}\n")
		for _, d := range deps {
			fmt.Fprintf(&b, "  --with-c%03d=${c%03d:location}\n", d, d)
		}
		b.WriteString("environment =\n  PATH=${gcc:location}/bin:%(PATH)s\n")
		for _, d := range deps {
			fmt.Fprintf(&b, "  CPPFLAGS=-I${c%03d:location}/include\n", d)
		}
		fmt.Fprintf(&b, "\n[%s-env]\n<= base-env\nlist += %s\nextra = ${%s:location}\n", name, name, name)
		fmt.Fprintf(&b, "\n[%s-macro]\nrecipe = slapos.recipe.template\nurl = ${%s-script:filename}\noutput = ${buildout:directory}/${:_buildout_section_name_}\ncontext =\n  key location %s:location\n", name, name, name)
		stats.Sections += 3
		// Macro users; like SlapOS, only a few add to an inherited value.
		for k := 0; k < per-5; k++ {
			fmt.Fprintf(&b, "\n[%s-p%d]\n<= %s-macro\n", name, k, name)
			if k == 0 {
				fmt.Fprintf(&b, "context +=\n  raw n %d\n", k)
			}
			fmt.Fprintf(&b, "port = %d\nurl = http://[${:host}]:${:port}/\nhost = ${buildout:directory}\n", 8000+k)
			stats.Sections++
		}
		fmt.Fprintf(&b, "\n[gcc-env]\nflags += -I${%s:location}/include\n", name)
		fmt.Fprintf(&b, "\n[versions]\n%s = 1.%d.%d\n", name, i%7, i)
		files = append(files, file{path: filepath.Join("component", name, "buildout.cfg"), extends: ext, text: b.String()})
		compFile[i] = len(files) - 1
	}

	// Stacks extend components of the two top levels.
	top := byLevel[cfg.Levels-1]
	below := byLevel[max(0, cfg.Levels-2)]
	var stackFiles []int
	for s := 0; s < cfg.Stacks; s++ {
		var b strings.Builder
		b.WriteString("[buildout]\nextends =\n")
		var ext []int
		used := map[int]bool{}
		var pick []int
		for j := s; j < len(top); j += cfg.Stacks {
			pick = append(pick, top[j])
		}
		pick = append(pick, below[rng.Intn(len(below))])
		for _, c := range pick {
			if used[c] {
				continue
			}
			used[c] = true
			fmt.Fprintf(&b, "  ../component/c%03d/buildout.cfg\n", c)
			ext = append(ext, compFile[c])
		}
		fmt.Fprintf(&b, "parts +=\n  s%02d\n\n[s%02d]\nrecipe = slapos.cookbook:wrapper\n", s, s)
		var cs []int
		for c := range used {
			cs = append(cs, c)
		}
		for _, c := range sortedInts(cs) {
			fmt.Fprintf(&b, "c%03d = ${c%03d:location}\n", c, c)
		}
		fmt.Fprintf(&b, "\n[s%02d-config]\n<= c%03d-macro\nport = %d\n", s, top[0], 9000+s)
		stats.Sections += 2
		files = append(files, file{path: filepath.Join("stack", fmt.Sprintf("s%02d.cfg", s)), extends: ext, text: b.String()})
		stackFiles = append(stackFiles, len(files)-1)
	}

	var b strings.Builder
	b.WriteString("[buildout]\nextends =\n")
	for s := range stackFiles {
		fmt.Fprintf(&b, "  stack/s%02d.cfg\n", s)
	}
	b.WriteString("parts +=\n  root\n\n[root]\nrecipe = slapos.cookbook:wrapper\n")
	for s := range stackFiles {
		fmt.Fprintf(&b, "s%02d = ${s%02d-config:output}\n", s, s)
	}
	stats.Sections++
	files = append(files, file{path: "buildout.cfg", extends: stackFiles, text: b.String()})
	rootIdx := len(files) - 1

	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", Stats{}, err
		}
		if err := os.WriteFile(p, []byte(f.text), 0o644); err != nil {
			return "", Stats{}, err
		}
	}
	stats.Files = len(files)
	// Opens: paths from the root, counted with multiplicity.
	memo := make([]int64, len(files))
	var opens func(i int) int64
	opens = func(i int) int64 {
		if memo[i] > 0 {
			return memo[i]
		}
		n := int64(1)
		for _, e := range files[i].extends {
			n += opens(e)
		}
		memo[i] = n
		return n
	}
	stats.Opens = opens(rootIdx)
	return filepath.Join(dir, "buildout.cfg"), stats, nil
}

func sortedInts(s []int) []int {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}
