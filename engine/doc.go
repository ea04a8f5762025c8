// Package engine turns a buildout profile into built parts and images.
//
// Plan reads the profile, finds every part and its recipe, substitutes the
// options with each part's fixed location, derives the dependency graph
// from ${part:...} references and recipe dependencies, and computes each
// part's key. Build then runs the plan: parts whose key is in the local
// store are reused, the others are built in parallel where the graph
// allows, each in the sandbox on the toolchain base with its dependencies
// mounted read-only, checked by the ELF policy, turned into one OCI layer
// and stored. Images named by oci-image parts are assembled last.
//
// The engine never prints: progress is a stream of Events that the CLI
// renders.
package engine
