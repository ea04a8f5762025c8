// Package cache is hbuild's local result store and the shared cache in a
// registry.
//
// # Local store
//
// The output of every built part, kept by its key under <cache>/parts/<key>/
// as the unpacked tree (used read-only as a dependency of later builds),
// its OCI layer (also linked into the content-addressed
// <cache>/blobs/sha256/) and meta.json.
//
// Entries are built in a private temporary directory and renamed into
// place, so a reader sees a complete entry or none, whatever crashes. A
// file lock per key lets several hbuild processes share one cache: the
// second to want a key waits for the first and reuses its result.
//
// It knows nothing about how parts are built; the engine decides what goes
// in an entry.
//
// # Shared cache (Remote)
//
// A registry repository REGISTRY/REPO holds one entry per part key, tagged
// by the key (64 hex digits). An entry is an OCI image manifest
// (image-spec 1.1):
//
//	{
//	  "schemaVersion": 2,
//	  "mediaType": "application/vnd.oci.image.manifest.v1+json",
//	  "artifactType": "application/vnd.hbuild.part.v1+json",
//	  "config": {
//	    "mediaType": "application/vnd.hbuild.part.config.v1+json",
//	    "digest": "sha256:…", "size": N,
//	    "data": "<base64 of the metadata: Meta as JSON>"
//	  },
//	  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip" (or +zstd), "digest": "sha256:…", "size": N}],
//	  "annotations": {
//	    "org.hbuild.part.key": KEY,
//	    "org.hbuild.part.name": PART,
//	    "org.opencontainers.image.created": RFC 3339 push time
//	  }
//	}
//
// The metadata is both embedded in the config descriptor ("data", omitted
// when larger than 256 KiB) and pushed as the config blob. A hit therefore
// costs two requests: the manifest by tag and the layer blob. Entries
// pushed by earlier versions, without "data", are still read (one more
// request, for the config blob); the layer format and the part keys did
// not change, so both kinds are the same cache. A pulled entry must name
// the key it is tagged with (annotation and metadata), its metadata must
// match the config digest and describe the layer, the layer must match its
// digest, size and diff ID and hold nothing outside the part's location;
// otherwise the entry is a Warning and the part is built locally.
//
// Prefetch looks every key of a plan up at once and pulls each hit as its
// lookup returns, streaming the layer into the store's layer file and,
// decompressed, straight into the entry's tree; all pulled entries are
// then committed together with two syncfs(2) calls (Store.CommitAll).
// With RemoteOptions.DeferTrees the layer is stored as it comes, checked
// against its digest and size as registry clients check blobs, and
// neither decompressed nor unpacked: Store.EnsureTree unpacks it from the
// layer file, checking its diff ID and that it holds nothing outside the
// part's location, when a build needs the part as a dependency (as
// containerd checks diff IDs when it unpacks). Creating a part's files and
// decompressing its layer are most of what a pull costs; a fully cached
// build needs neither. The digest is the manifest's, which a signature
// covers: use --cache-require-signed with a registry you do not trust.
//
// # Signatures
//
// With a key (hbuild-cache-key: a PEM ed25519 or ECDSA P-256 private key,
// PKCS #8 or SEC 1) every pushed entry is signed in cosign's format, so
// that `cosign verify --key cosign.pub --insecure-ignore-tlog
// REGISTRY/REPO@sha256:…` accepts it, and entries that cosign signed are
// accepted by hbuild. The signature of the entry manifest sha256:HEX is a
// manifest tagged sha256-HEX.sig in the same repository, with an OCI image
// config and one layer of media type
// application/vnd.dev.cosign.simplesigning.v1+json whose blob is the
// simple-signing payload
//
//	{"critical":{"identity":{"docker-reference":"REGISTRY/REPO"},"image":{"docker-manifest-digest":"sha256:HEX"},"type":"cosign container image signature"},"optional":null}
//
// and whose annotation dev.cosignproject.cosign/signature is the base64
// signature of those bytes: ed25519 over the bytes, ECDSA over their
// SHA-256 (ASN.1 DER). With trusted keys, a lookup also fetches the
// signature manifest (the payload blob only when it is not the one above,
// e.g. cosign sign -a); --cache-require-signed rejects an entry that no
// trusted key signed. A signature that does not verify counts as none
// (cosign signatures do not name their key). The signature is pushed after
// the entry: a reader in between sees it unsigned.
//
// The shared cache never fails a build: an unreachable registry, refused
// credentials or a bad entry are reported as warnings and the parts
// concerned are built here.
package cache
