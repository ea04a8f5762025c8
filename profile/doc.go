// Package profile reads buildout profiles: the INI language of zc.buildout
// as SlapOS uses it.
//
// Load parses a profile and everything it extends (local files, relative
// paths, chains, diamonds and URLs, each file read and resolved once), merges
// the user defaults file, the built-in [buildout] defaults and command-line
// overrides, and returns a Profile. A Profile answers two kinds of
// questions: the raw merged value of an option together with where every
// step of it came from (Raw, Annotate, AnnotateJSON), and the fully
// substituted value (Get, Resolve), computed lazily per section with
// zc.buildout's exact rules for `<=` macros, `${section:option}`, `${:option}`
// and `$$`.
//
// The merge rules are those of zc.buildout 2.13 (the version Debian ships,
// against which the conformance goldens in testdata/conformance are
// generated): each extended file is fully resolved on its own before it is
// merged into the file that extends it ("nested merge"), `+=`/`-=` on an
// option missing from an existing section start from the empty string, an
// operator in a section that exists nowhere below stays a raw option named
// "x +", the user defaults file lies under the whole project.
//
// Divergences from zc.buildout, all deliberate:
//   - Conditional section expressions are evaluated by a small Python-subset
//     evaluator (see Conditions), which also accepts PEP 508 environment
//     markers as zc.buildout 3 does. The target platform is fixed: CPython
//     3.11 on 64-bit little-endian Linux with the machine hbuild runs on.
//   - Paths in extends are cleaned before they are compared, so a cycle
//     through "sub/../a.cfg" is reported instead of recursing forever.
//   - LoadOptions.Strict turns zc.buildout's silent cases into errors:
//     `-=` on an option that does not exist, an operator left unresolved
//     (an option literally named "x +"), a `<=` in [buildout].
//
// The package does not install anything and never loads recipes: which
// sections are parts and in which order they build is the engine's
// business (Refs gives it the direct references of a section).
package profile
