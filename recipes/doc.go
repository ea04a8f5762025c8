// Package recipes holds the Recipe contract and hbuild's built-in recipes:
// cmmi, download, download-unpacked, build, template, oci-image and
// debian-rootfs, registered under their own names and under the
// slapos.recipe.* / hexagonit.recipe.* / zc.recipe.* names that buildout
// profiles use.
//
// A recipe does not build anything itself. Given a part's substituted
// options and a Context, it returns a Build: the sources to fetch and where
// to put them, the shell steps to run in the sandbox, files to write, the
// extra environment and the parts it depends on. The engine fetches, runs
// and stores; a recipe is a pure function of its inputs, which is what lets
// the engine key and cache its result.
//
// It is not a place for Python: buildout's Python hooks cannot run here and
// are reported with the shell option that replaces them.
package recipes
