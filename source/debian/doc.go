// Package debian is a pure-Go client for Debian archives: it reads the host's
// apt sources, fetches InRelease and verifies its OpenPGP signature against a
// keyring, fetches the Packages and Sources indices verified by the checksums
// InRelease lists, resolves a package list to its dependency closure, writes
// and reads lock files, and downloads .deb files and upstream source tarballs
// into the content-addressed download cache, each verified by its SHA-256.
//
// It does not install anything: unpacking packages into a file system is the
// business of package rootfs, and it never runs maintainer scripts.
package debian
