// Package image turns part install trees into OCI images and sends them
// where users deploy from.
//
// It writes deterministic layer tarballs (WriteLayer, WriteLayerFile),
// assembles images from a base and part layers (Assemble), writes them to an
// OCI layout, a docker archive, a registry or a running containerd (Write),
// reads them back (Load), copies them between locations (Copy), unpacks
// them safely (Extract), compares layers entry by entry for reproducibility
// checks (DiffLayers) and describes images with an SPDX 2.3 SBOM attached as
// an OCI referrer (SBOM, AttachSBOM).
//
// It does not build anything, plan parts or run containers: the engine hands
// it finished directories and configuration.
//
// # Layer encoding (FormatVersion "hbuild-layer-1")
//
// A layer is a tar stream of one directory tree, placed under
// LayerOptions.Prefix:
//
//   - entries are emitted depth first, siblings sorted bytewise by name; the
//     parent directories of Prefix come first (mode 0755);
//   - names are relative (no "./" or "/"), directories end in "/";
//   - uid and gid are 0, user and group names are empty;
//   - mtimes are truncated to the second and clamped to LayerOptions.Epoch
//     (DefaultEpoch when unset): a file newer than the epoch gets the epoch;
//     atime and ctime are never recorded;
//   - the mode keeps the owner's permission bits and the setuid, setgid and
//     sticky bits; the group and other bits are the owner's bits without
//     write (0700 → 0755, 0600 → 0644, 0664 → 0644, 0775 → 0755), so the
//     umask of the build never shows in a digest;
//   - symlinks keep their target verbatim; hard links are kept: the first
//     path of an inode in emission order carries the data, later ones are
//     link entries pointing at it;
//   - extended attributes are dropped except those in KeptXattrs
//     (security.capability), recorded as SCHILY.xattr PAX records;
//   - sockets, FIFOs and device nodes are refused with an error naming them;
//   - the tar format is PAX where needed (long names, big files), USTAR
//     otherwise, as Go's archive/tar chooses;
//   - gzip uses klauspost/pgzip at GzipLevel in GzipBlockSize blocks (the
//     output depends on the block size, never on the number of CPUs); zstd
//     uses klauspost/compress/zstd at ZstdLevel without a content checksum.
//
// Any change to this encoding must change FormatVersion: it is part of every
// part key, so a changed encoding never serves stale digests.
package image
