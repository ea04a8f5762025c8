package cache

// The shared source cache (SlapOS's shacache): every fetched source kept
// in a registry repository, so that a machine with no route to an upstream
// site fetches from the registry. A source is an OCI artifact with
// artifactType SourceArtifactType, the empty config and the source itself
// (a file, or the deterministic tar of a git commit) as its only blob. It
// is tagged by SourceTag of each checksum key it is known by
// ("md5:<hex>" → src-md5-<hex>, "git:<commit>" → src-git-<commit>), and
// its annotation AnnotationSourceKey repeats the key. A blob is used only
// when it matches the manifest's sha256 digest and size; source.Fetcher
// then checks it against the checksum or the commit.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types and annotations of a shared source.
const (
	SourceArtifactType  = "application/vnd.hbuild.source.v1"
	SourceBlobMediaType = "application/vnd.hbuild.source.v1.blob"
	AnnotationSourceKey = "org.hbuild.source.key"
	emptyConfigType     = "application/vnd.oci.empty.v1+json"
)

var emptyConfig = []byte("{}")

// RemoteSources is the shared source cache in a registry repository. It
// implements source.SharedCache.
type RemoteSources struct{ r *Remote }

// OpenRemoteSources prepares the source cache in repository ref
// (REGISTRY/REPO). Mode read never pushes, mode write never fetches. It
// does not contact the registry.
func OpenRemoteSources(ref string, opts RemoteOptions) (*RemoteSources, error) {
	r, err := OpenRemote(ref, opts)
	if err != nil {
		return nil, err
	}
	return &RemoteSources{r: r}, nil
}

// Sources is the source cache in the repository ref (REGISTRY/REPO), with
// this cache's options (insecure, credentials, mode); ref "" is this
// cache's own repository.
func (r *Remote) Sources(ref string) (*RemoteSources, error) {
	if ref == "" {
		return &RemoteSources{r: r}, nil
	}
	return OpenRemoteSources(ref, r.opts)
}

// Ref is the repository, as REGISTRY/REPO.
func (s *RemoteSources) Ref() string { return s.r.Ref() }

var sourceKeyRe = regexp.MustCompile(`^(md5|sha1|sha256|sha512|git):([0-9a-f]{32,128})$`)

// SourceTag is the tag of the source known by key ("md5:<hex>",
// "sha256:<hex>", "git:<commit>" ...): src-<algo>-<hex>, cut to the 128
// characters a tag may have (the manifest's annotation holds the full key).
func SourceTag(key string) (string, error) {
	m := sourceKeyRe.FindStringSubmatch(key)
	if m == nil {
		return "", fmt.Errorf("source cache: bad key %q: want ALGO:HEX (md5, sha1, sha256, sha512) or git:COMMIT", key)
	}
	t := "src-" + m[1] + "-" + m[2]
	return t[:min(len(t), 128)], nil
}

// Fetch writes the source stored under key to w; found is false when the
// registry has none (or the cache is write-only). A blob that does not
// match its manifest is an error, and w may have received part of it.
func (s *RemoteSources) Fetch(ctx context.Context, key string, w io.Writer) (bool, error) {
	if !s.r.Reads() {
		return false, nil
	}
	d, err := s.lookup(ctx, key)
	if err != nil || d == nil {
		return false, err
	}
	if err := s.r.copyVerified(ctx, *d, w); err != nil {
		return false, fmt.Errorf("source %s from %s: %w", key, s.Ref(), err)
	}
	return true, nil
}

// lookup returns the blob of key's artifact; nil, nil when there is none.
func (s *RemoteSources) lookup(ctx context.Context, key string) (*v1.Descriptor, error) {
	tag, err := SourceTag(key)
	if err != nil {
		return nil, err
	}
	if err := s.r.check(); err != nil {
		return nil, err
	}
	desc, err := s.r.puller.Get(ctx, s.r.tag(tag))
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, s.r.note(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return nil, fmt.Errorf("source %s: parse manifest: %w", key, err)
	}
	switch {
	case m.ArtifactType != SourceArtifactType:
		return nil, fmt.Errorf("source %s: %s is not an hbuild source (artifactType %q)", key, desc.Digest, m.ArtifactType)
	case m.Annotations[AnnotationSourceKey] != key:
		return nil, fmt.Errorf("source %s: %s names key %q", key, desc.Digest, m.Annotations[AnnotationSourceKey])
	case len(m.Layers) != 1 || m.Layers[0].MediaType != SourceBlobMediaType || m.Layers[0].Size < 0:
		return nil, fmt.Errorf("source %s: %s does not hold one source blob", key, desc.Digest)
	}
	if algo, hex, _ := strings.Cut(key, ":"); algo == "sha256" && m.Layers[0].Digest.Hex != hex {
		return nil, fmt.Errorf("source %s: %s holds blob %s", key, desc.Digest, m.Layers[0].Digest)
	}
	return &m.Layers[0], nil
}

// Push stores the file at path, whose sha256 is given, under every key.
// Keys the registry already has are left alone. A read-only cache pushes
// nothing.
func (s *RemoteSources) Push(ctx context.Context, keys []string, path, sha256 string) error {
	if !s.r.Writes() {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("push source: %w", err)
	}
	digest, err := v1.NewHash("sha256:" + sha256)
	if err != nil {
		return fmt.Errorf("push source %s: %w", path, err)
	}
	blob := &sourceBlob{path: path, digest: digest, size: st.Size()}
	for _, key := range keys {
		tag, err := SourceTag(key)
		if err != nil {
			return err
		}
		if d, err := s.lookup(ctx, key); err == nil && d != nil && d.Digest == digest {
			continue
		} else if err != nil && unreachable(err) {
			return err
		}
		img, err := sourceArtifact(key, blob)
		if err != nil {
			return err
		}
		if err := s.r.pusher.Push(ctx, s.r.tag(tag), img); err != nil {
			return fmt.Errorf("push source %s to %s: %w", key, s.Ref(), s.r.note(err))
		}
	}
	return nil
}

func sourceArtifact(key string, blob *sourceBlob) (v1.Image, error) {
	cd, cs, err := v1.SHA256(bytes.NewReader(emptyConfig))
	if err != nil {
		return nil, err
	}
	man := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  SourceArtifactType,
		Config:        v1.Descriptor{MediaType: emptyConfigType, Size: cs, Digest: cd},
		Layers:        []v1.Descriptor{{MediaType: SourceBlobMediaType, Size: blob.size, Digest: blob.digest}},
		Annotations:   map[string]string{AnnotationSourceKey: key},
	}
	raw, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&sourceArtifactCore{raw: raw, blob: blob})
}

type sourceArtifactCore struct {
	raw  []byte
	blob *sourceBlob
}

func (a *sourceArtifactCore) RawManifest() ([]byte, error)   { return a.raw, nil }
func (a *sourceArtifactCore) RawConfigFile() ([]byte, error) { return emptyConfig, nil }
func (a *sourceArtifactCore) MediaType() (types.MediaType, error) {
	return types.OCIManifestSchema1, nil
}

func (a *sourceArtifactCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == a.blob.digest {
		return a.blob, nil
	}
	return nil, fmt.Errorf("source artifact has no blob %s", h)
}

// sourceBlob is a source file pushed as is.
type sourceBlob struct {
	path   string
	digest v1.Hash
	size   int64
}

func (b *sourceBlob) Digest() (v1.Hash, error)            { return b.digest, nil }
func (b *sourceBlob) Size() (int64, error)                { return b.size, nil }
func (b *sourceBlob) MediaType() (types.MediaType, error) { return SourceBlobMediaType, nil }
func (b *sourceBlob) Compressed() (io.ReadCloser, error)  { return os.Open(b.path) }
