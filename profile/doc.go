// Package profile reads buildout profiles: the INI language of zc.buildout
// as SlapOS uses it. It is data only: it parses, merges and substitutes,
// and never installs anything or loads recipes (which sections are parts
// and in which order they build is the engine's business; Refs gives it the
// direct references of a section).
//
// Load parses a profile and everything it extends (several files per
// extends, paths relative to the extending file, chains, diamonds, URLs
// fetched over HTTP and cached under LoadOptions.CacheDir or
// buildout:extends-cache, offline from that cache), merges the user
// defaults file, zc.buildout's built-in [buildout] defaults, the computed
// options (buildout:directory, the absolute download-cache, eggs-directory
// and extends-cache, the [versions] pins of zc.buildout and zc.recipe.egg)
// and command-line overrides, and checks [buildout] and [versions] as
// zc.buildout does at start-up. Every file is read, parsed and resolved
// once, however many paths lead to it (zc.buildout resolves a shared base
// once per path); local files are read and parsed in parallel.
//
// A Profile answers two kinds of questions:
//   - Raw, RawOptions, Annotate, AnnotateJSON: the merged value of an
//     option before macro expansion and substitution, with its history
//     (Value.Origins: file and line, or default / computed / command line /
//     user defaults / implicit, and the operation: set, +=, -=, override,
//     directory). Annotate prints exactly what `buildout annotate` prints.
//   - Get, Resolve, Options, Expanded, Refs: a section as a part sees it,
//     after `<=` macro expansion and `${section:option}`, `${:option}`,
//     `$$` substitution, computed lazily per section with zc.buildout's
//     rules: the first access to a section substitutes all its options, so a
//     bad reference anywhere in a section that is used is an error.
//
// Errors are *Error values with the file and line, the section and option,
// the chain of references that led there, and what to change.
//
// Conformance. The merge rules are those of zc.buildout 2.13 (Debian's
// python3-zc.buildout, which generates the goldens in
// testdata/conformance): each extended file is fully resolved on its own
// before it is merged into the file that extends it ("nested merge", the
// 2.x-3.0 behaviour SlapOS profiles are tested against); `+=`/`-=` on an
// option missing from an existing section start from the empty string; an
// operator in a section that exists nowhere below stays a raw option named
// like "x +"; the user defaults file lies under the whole project;
// `buildout:extends=...` on the command line is a plain option. The
// conformance test compares every raw and substituted value of every
// section with zc.buildout's for each case, and the annotate text with
// zc.buildout's own annotate output.
//
// Deliberate differences from zc.buildout 2.13:
//   - Conditional section headers `[name:expression]` are evaluated by a
//     Python-subset evaluator: names, attributes, calls of a fixed set of
//     functions and string methods, subscripts and slices, tuples, lists and
//     list comprehensions, not/and/or, chained comparisons, in, is, + - * %,
//     conditional expressions. Like zc.buildout 3 it first tries the
//     expression as a PEP 508 environment marker (python_version >= "3.8").
//     The target is fixed: CPython 3.11.7 (python3, python311 and
//     sys.version_info say so; python24..python315 are defined as in
//     zc.buildout 3) on 64-bit little-endian Linux with the host's machine
//     type; platform.release(), platform.freedesktop_os_release(),
//     os.path.*, os.access and open(...).read() read the host.
//   - `${:_profile_base_location_}` (a SlapOS fork feature): a section of a
//     file whose values mention it gets the option, set to the directory of
//     that file (or the URL up to its last "/"); a later file that mentions
//     it in the same section overrides it.
//   - Paths in extends are cleaned before they are compared, so a cycle
//     through "sub/../a.cfg" is reported as a cycle (zc.buildout recurses
//     until Python's stack overflows).
//   - buildout:executable defaults to DefaultExecutable (zc.buildout uses
//     the Python running it).
//   - Value.Origins does not repeat the no-op "override by the same file"
//     that zc.buildout records when a diamond merges an unchanged section
//     with itself; values are the same.
//   - With LoadOptions.Strict, what zc.buildout silently accepts becomes an
//     error: `-=` on an option that does not exist, an operator left
//     unresolved (an option literally named "x +"), `<=` in [buildout].
//   - Duplicate command-line overrides of one option: the last one wins
//     (zc.buildout keeps the greatest value after sorting).
//
// Merge modes. LoadOptions.Merge (or `[buildout] hbuild-merge = flattened`
// in a local root file; an explicit LoadOptions.Merge wins) selects how
// extends are merged:
//   - MergeNested ("" or "nested", the default): zc.buildout 2.13 to 3.0.1
//     as described above; the conformance goldens prove it.
//   - MergeFlattened: zc.buildout HEAD (3.1.1 and later; spec §5.4). Each
//     file's own sections are listed in depth-first post-order (its
//     extends, left to right, then its optional-extends, then the file
//     itself; a file extended through two paths appears twice, so a diamond
//     re-applies the shared base) and merged one after the other into an
//     empty profile, with the user defaults first; `+=` in a later file
//     thus sees what earlier siblings set. A section new to the merged
//     profile and without `<` has its operators on options it does not set
//     turned into plain values (`x += v` is `x = v`, `x -= v` is `x = ""`),
//     so no raw "x +" key is ever left (operators are stripped whole:
//     `abc+=1` sets abc, where upstream sets ab). In one section of one
//     file a repeated `+=`/`-=` appends its lines to the earlier occurrence
//     and a plain `x = v` after `x +=`/`x -=` cancels them (HEAD's parser;
//     each occurrence is normalised before joining, where upstream joins the
//     raw text, and every spelling of the operator is cancelled). The
//     command-line overrides are merged with the same rules, and
//     `buildout:extends=f1 f2` given there opens those files (relative to
//     the working directory, as zc.buildout 3 does) and merges them over
//     the profile before the other overrides.
//
// optional-extends (zc.buildout HEAD, spec §4.2) is honoured in the
// flattened mode only: its local paths (relative to the file that names
// them; URLs are an error) are merged after extends and before the file
// itself, and a missing file is skipped with a Warning naming the file and
// line. zc.buildout 2.13 does not know the option and keeps it as a plain
// [buildout] option; the nested mode does the same, for conformance, and
// warns that it is not applied.
//
// Warnings. Profile.Warnings lists, with file and line, what zc.buildout
// accepts silently but is probably a mistake: `-=` on an option that does
// not exist, an operator left unresolved as a raw "x +" key (nested mode),
// and optional-extends skipped or not applied. Under LoadOptions.Strict the
// first two are errors.
//
// In the nested mode `buildout:extends` given on the command line stays a
// plain option, as in zc.buildout 2.13.
package profile
