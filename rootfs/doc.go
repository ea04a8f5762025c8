// Package rootfs makes the base file systems parts build on and images run
// on: Debian packages resolved against a signed archive into a lock file,
// fetched by SHA-256 and unpacked in Go (no dpkg, no maintainer scripts),
// with what those scripts would have made added (users, /bin/sh,
// alternatives, usr-merge links); or an OCI image flattened layer by layer.
//
// Every base is an unpacked tree (usable as a read-only sandbox lower dir)
// plus a deterministic layer, cached under a key derived from its lock (or
// image digest), built in a temporary directory and renamed into place under
// a file lock, so concurrent hbuild processes share one cache safely.
//
// It does not run anything inside the trees it makes.
package rootfs
