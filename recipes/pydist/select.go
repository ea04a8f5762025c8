package pydist

import (
	"fmt"
	"sort"
	"strings"
)

// Select picks the file of project (compared normalized) to install for t.
// With pinned != "" it returns the file whose version equals pinned (PEP 440
// equality, so 1.0 matches 1.0.0), preferring the most specific compatible
// wheel over an sdist, and picked is false; with pinned == "" it takes the
// highest version (final releases before pre-releases unless there are
// only pre-releases) and picked is true. Wheels that t cannot install are
// ignored; the error says when only those exist.
func Select(files []File, project, pinned string, t Target) (best File, picked bool, err error) {
	want := Normalize(project)
	var usable, incompatible []File
	for _, f := range files {
		if Normalize(f.Project) != want {
			// An sdist name splits two ways when the project name holds
			// "-<digit>"; take the project's split when it gives a PEP 440
			// version.
			g, ok := SplitSdistFor(f.Name, project)
			if !ok || f.Kind != "sdist" || !ValidVersion(g.Version) {
				continue
			}
			f = g
		}
		if t.Compatible(f) {
			usable = append(usable, f)
		} else {
			incompatible = append(incompatible, f)
		}
	}
	if len(usable) == 0 && len(incompatible) == 0 {
		return File{}, false, fmt.Errorf("select %s: no distribution of %s found", project, project)
	}
	if pinned != "" {
		var matching, badMatching []File
		for _, f := range usable {
			if versionEqual(f.Version, pinned) {
				matching = append(matching, f)
			}
		}
		for _, f := range incompatible {
			if versionEqual(f.Version, pinned) {
				badMatching = append(badMatching, f)
			}
		}
		if len(matching) == 0 {
			if len(badMatching) > 0 {
				return File{}, false, fmt.Errorf("select %s %s: only wheels that Python %s on %s cannot install: %s (add an sdist or a compatible wheel to find-links, or pin another version)",
					project, pinned, t.PythonVersion, t.machine(), names(badMatching))
			}
			return File{}, false, fmt.Errorf("select %s: no distribution of version %s (pinned in [versions]); found %s", project, pinned, versionList(usable, incompatible))
		}
		return t.preferred(matching), false, nil
	}
	if len(usable) == 0 {
		return File{}, false, fmt.Errorf("select %s: only wheels that Python %s on %s cannot install: %s", project, t.PythonVersion, t.machine(), names(incompatible))
	}
	candidates := usable
	var finals []File
	for _, f := range usable {
		if !IsPrerelease(f.Version) {
			finals = append(finals, f)
		}
	}
	if len(finals) > 0 {
		candidates = finals
	}
	top := candidates[0].Version
	for _, f := range candidates[1:] {
		if CompareVersions(f.Version, top) > 0 {
			top = f.Version
		}
	}
	var matching []File
	for _, f := range candidates {
		if versionEqual(f.Version, top) {
			matching = append(matching, f)
		}
	}
	return t.preferred(matching), true, nil
}

// versionEqual is PEP 440 equality, or string equality for versions that
// are not PEP 440.
func versionEqual(a, b string) bool {
	if ValidVersion(a) && ValidVersion(b) {
		return CompareVersions(a, b) == 0
	}
	return strings.TrimSpace(a) == strings.TrimSpace(b)
}

// preferred returns the most specific compatible wheel of files, or the
// sdist when there is none; ties go to the smallest file name.
func (t Target) preferred(files []File) File {
	rank := func(f File) int {
		if f.Kind == "wheel" {
			return 100 + t.wheelRank(f)
		}
		return 0
	}
	best := files[0]
	for _, f := range files[1:] {
		if r, b := rank(f), rank(best); r > b || r == b && f.Name < best.Name {
			best = f
		}
	}
	return best
}

func names(files []File) string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// versionList lists the distinct versions of the given files, highest first.
func versionList(lists ...[]File) string {
	seen := map[string]bool{}
	var vs []string
	for _, l := range lists {
		for _, f := range l {
			if !seen[f.Version] {
				seen[f.Version] = true
				vs = append(vs, f.Version)
			}
		}
	}
	sort.Strings(vs)
	sort.SliceStable(vs, func(i, j int) bool { return CompareVersions(vs[i], vs[j]) > 0 })
	return "versions " + strings.Join(vs, ", ")
}
