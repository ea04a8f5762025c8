// Package cache is hbuild's local result store: the output of every built
// part, kept by its key under <cache>/parts/<key>/ as the unpacked tree
// (used read-only as a dependency of later builds), its OCI layer (also
// linked into the content-addressed <cache>/blobs/sha256/) and meta.json.
//
// Entries are built in a private temporary directory and renamed into
// place, so a reader sees a complete entry or none, whatever crashes. A
// file lock per key lets several hbuild processes share one cache: the
// second to want a key waits for the first and reuses its result.
//
// It knows nothing about how parts are built; the engine decides what goes
// in an entry.
package cache
