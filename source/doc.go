// Package source gets a build's inputs onto the disk, verified: checksums
// (md5, sha1, sha256, sha512, in the forms buildout and SlapOS profiles
// write them), the content-addressed download cache shared by every profile
// (CAS), the Fetcher that downloads through find-links mirrors and
// allow-hosts with retries and a hook for a shared source cache (SlapOS's
// shacache), git sources pinned to a commit and exported as verified
// deterministic tars, and safe unpacking of tar and zip archives.
//
// It is not a package manager and does not interpret profiles: callers pass
// URLs and checksums; Debian source packages live in source/debian.
// Nothing here prints; progress goes to callbacks.
package source
