package cache

// Signatures in cosign's format, so that `cosign verify --key` accepts an
// entry hbuild signed, and hbuild accepts an entry cosign signed.
//
// The signature of the manifest with digest sha256:HEX is an OCI manifest
// tagged sha256-HEX.sig in the same repository. Its one layer, of media
// type SimpleSigningMediaType, is the "simple signing" payload
//
//	{"critical":{"identity":{"docker-reference":REPO},"image":{"docker-manifest-digest":"sha256:HEX"},"type":"cosign container image signature"},"optional":null}
//
// and the layer's annotation AnnotationCosignSignature holds the base64
// signature of those payload bytes: ed25519 over the bytes themselves, or
// ECDSA P-256 over their SHA-256, ASN.1 DER encoded (cosign's default
// key). A signature manifest may hold several layers (several signers);
// one by a trusted key that verifies and names the entry's digest is
// enough.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// cosign's media type and annotation for a signature layer.
const (
	SimpleSigningMediaType    = "application/vnd.dev.cosign.simplesigning.v1+json"
	AnnotationCosignSignature = "dev.cosignproject.cosign/signature"
	cosignSignatureType       = "cosign container image signature"
)

// maxPayloadSize bounds a signature payload read from a registry.
const maxPayloadSize = 1 << 20

// KeyID names a public key: the algorithm ("ed25519" or "ecdsa-p256"), a
// colon and the first 16 bytes of the SHA-256 of the key (the raw key for
// ed25519, its PKIX DER encoding for ECDSA) in hex. It is "" for a key of
// another kind.
func KeyID(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		s := sha256.Sum256(k)
		return "ed25519:" + hex.EncodeToString(s[:16])
	case *ecdsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil || k.Curve != elliptic.P256() {
			return ""
		}
		s := sha256.Sum256(der)
		return "ecdsa-p256:" + hex.EncodeToString(s[:16])
	}
	return ""
}

// checkKey accepts the public keys cosign verifies with that hbuild
// supports: ed25519 and ECDSA P-256.
func checkKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return nil
		}
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return nil
		}
	}
	return fmt.Errorf("%T is not an ed25519 or ECDSA P-256 public key", pub)
}

// simpleSigning is cosign's signature payload. Field order and the null
// "optional" give exactly cosign's bytes.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// CosignPayload is the simple-signing payload that signs the manifest
// digest of an entry of the repository repo (REGISTRY/REPO), as cosign
// writes it.
func CosignPayload(repo, digest string) []byte {
	var p simpleSigning
	p.Critical.Identity.DockerReference = repo
	p.Critical.Image.DockerManifestDigest = digest
	p.Critical.Type = cosignSignatureType
	b, _ := json.Marshal(p) // cannot fail: strings only
	return b
}

// SignatureTag is the tag of the signature of the manifest digest
// ("sha256:HEX" → "sha256-HEX.sig").
func SignatureTag(digest string) string {
	return strings.Replace(digest, ":", "-", 1) + ".sig"
}

// signPayload signs payload as cosign does with key.
func signPayload(key crypto.Signer, payload []byte) ([]byte, error) {
	if _, ok := key.Public().(ed25519.PublicKey); ok {
		return key.Sign(rand.Reader, payload, crypto.Hash(0))
	}
	h := sha256.Sum256(payload)
	return key.Sign(rand.Reader, h[:], crypto.SHA256) // ECDSA: ASN.1 DER
}

// verifyPayload checks sig over payload with pub.
func verifyPayload(pub crypto.PublicKey, payload, sig []byte) bool {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(k, payload, sig)
	case *ecdsa.PublicKey:
		h := sha256.Sum256(payload)
		return ecdsa.VerifyASN1(k, h[:], sig)
	}
	return false
}

// signatureImage is the signature manifest of digest: cosign's layout
// (an OCI manifest, an OCI image config listing the layer, one
// simple-signing layer with the signature annotation).
func (r *Remote) signatureImage(digest string) (v1.Image, error) {
	payload := CosignPayload(r.repo.Name(), digest)
	sig, err := signPayload(r.opts.SignKey, payload)
	if err != nil {
		return nil, fmt.Errorf("sign entry %s: %w", digest, err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	return mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(payload, SimpleSigningMediaType),
		Annotations: map[string]string{AnnotationCosignSignature: base64.StdEncoding.EncodeToString(sig)},
		MediaType:   SimpleSigningMediaType,
	})
}

// pushSignature signs the entry manifest digest and pushes the signature
// manifest.
func (r *Remote) pushSignature(ctx context.Context, digest string) error {
	img, err := r.signatureImage(digest)
	if err != nil {
		return err
	}
	if err := r.pusher.Push(ctx, r.repo.Tag(SignatureTag(digest)), img); err != nil {
		return fmt.Errorf("push signature of %s: %w", digest, r.note(err))
	}
	return nil
}

// verify looks for the signature of the entry manifest digest and returns
// the KeyID of a trusted key whose signature verifies, or "" when there is
// none and signatures are not required. Without trusted keys it asks
// nothing. cosign's signatures do not say which key made them, so a
// signature that no trusted key verifies (tampered, by another key, or
// of another manifest) counts as no signature: an error only with
// RequireSigned.
func (r *Remote) verify(ctx context.Context, digest string) (string, error) {
	if len(r.trusted) == 0 {
		return "", nil
	}
	desc, err := r.puller.Get(ctx, r.repo.Tag(SignatureTag(digest)))
	if notFound(err) {
		if r.opts.RequireSigned {
			return "", errors.New("entry is not signed and signed entries are required")
		}
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("fetch signature: %w", r.note(err))
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return "", fmt.Errorf("parse signature manifest: %w", err)
	}
	signer, err := r.checkSignatures(ctx, digest, m.Layers)
	if err != nil {
		return "", err
	}
	if signer == "" && r.opts.RequireSigned {
		return "", errors.New("entry has no signature that a trusted key verifies, and signed entries are required")
	}
	return signer, nil
}

// checkSignatures returns the KeyID of a trusted key that signed digest
// in one of the signature layers, or "".
func (r *Remote) checkSignatures(ctx context.Context, digest string, layers []v1.Descriptor) (string, error) {
	expected := CosignPayload(r.repo.Name(), digest)
	ed, es, _ := v1.SHA256(bytes.NewReader(expected))
	for _, l := range layers {
		sig64, ok := l.Annotations[AnnotationCosignSignature]
		if l.MediaType != SimpleSigningMediaType || !ok {
			continue
		}
		sig, derr := base64.StdEncoding.DecodeString(sig64)
		if derr != nil {
			continue
		}
		// The payload hbuild (and plain cosign) writes for this repository
		// is known: no need to fetch it. Any other (another docker-reference,
		// cosign -a annotations) is fetched, checked and parsed.
		payload := expected
		if l.Digest != ed || l.Size != es {
			if l.Size < 0 || l.Size > maxPayloadSize {
				continue
			}
			var b bytes.Buffer
			if err := r.copyVerified(ctx, l, &b); err != nil {
				if unreachable(err) {
					return "", err
				}
				continue
			}
			if !payloadNames(b.Bytes(), digest) {
				continue
			}
			payload = b.Bytes()
		}
		for id, pub := range r.trusted {
			if verifyPayload(pub, payload, sig) {
				return id, nil
			}
		}
	}
	return "", nil
}

// payloadNames reports whether a simple-signing payload signs digest.
func payloadNames(payload []byte, digest string) bool {
	var p simpleSigning
	if err := json.Unmarshal(payload, &p); err != nil {
		return false
	}
	return p.Critical.Type == cosignSignatureType && p.Critical.Image.DockerManifestDigest == digest
}

// deleteSignature removes the signature of a deleted entry manifest (best
// effort: a stray signature names a manifest that is gone).
func (r *Remote) deleteSignature(ctx context.Context, digest string) {
	tag := r.repo.Tag(SignatureTag(digest))
	desc, err := r.puller.Head(ctx, tag)
	if err != nil {
		return
	}
	_ = r.pusher.Delete(ctx, r.repo.Digest(desc.Digest.String()))
	_ = r.pusher.Delete(ctx, tag)
}

// LoadCacheKey reads the key file named by hbuild-cache-key, PEM encoded:
// a "PRIVATE KEY" (PKCS #8, as `openssl genpkey -algorithm ed25519` or
// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` write
// it) or an "EC PRIVATE KEY" (SEC 1), which signs and verifies; or a
// "PUBLIC KEY" (PKIX, as cosign.pub), which only verifies. Keys are
// ed25519 or ECDSA P-256. priv is nil for a public key file.
func LoadCacheKey(path string) (priv crypto.Signer, pub crypto.PublicKey, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read cache key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, nil, fmt.Errorf("read cache key %s: not a PEM file", path)
	}
	const hint = " (make one with hbuild cache keygen, openssl genpkey -algorithm ed25519, or openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)"
	switch blk.Type {
	case "PRIVATE KEY", "EC PRIVATE KEY":
		var k any
		if blk.Type == "PRIVATE KEY" {
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		} else {
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read cache key %s: %w", path, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok || checkKey(s.Public()) != nil {
			return nil, nil, fmt.Errorf("read cache key %s: %T is not an ed25519 or ECDSA P-256 key%s", path, k, hint)
		}
		return s, s.Public(), nil
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("read cache key %s: %w", path, err)
		}
		if err := checkKey(k); err != nil {
			return nil, nil, fmt.Errorf("read cache key %s: %w", path, err)
		}
		return nil, k, nil
	case "ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY":
		return nil, nil, fmt.Errorf("read cache key %s: an encrypted cosign private key; give hbuild a PKCS #8 key (cosign.pub of a key made by openssl verifies with cosign) or only its public key", path)
	default:
		return nil, nil, fmt.Errorf("read cache key %s: PEM block %q, want PRIVATE KEY, EC PRIVATE KEY or PUBLIC KEY", path, blk.Type)
	}
}

// GenerateCacheKey writes a new ed25519 key pair: the private key to
// privPath (mode 0600) and the public key to pubPath, both PEM. It refuses
// to overwrite files.
func GenerateCacheKey(privPath, pubPath string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pb, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	if err := writeNew(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pb}), 0o644); err != nil {
		return nil, err
	}
	return pub, nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}
