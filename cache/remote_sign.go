package cache

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// KeyID names a public key: "ed25519:" and the first 16 bytes of the
// SHA-256 of the key, in hex.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(s[:16])
}

// SignedPayload is what an entry's signature covers: the key and the
// descriptors of both blobs. Since a pulled blob must match its digest,
// this binds the whole entry.
func SignedPayload(key string, config, layer v1.Descriptor) []byte {
	return fmt.Appendf(nil, "hbuild-cache-entry-v1\nkey %s\nconfig %s %s %d\nlayer %s %s %d\n",
		key, config.MediaType, config.Digest, config.Size, layer.MediaType, layer.Digest, layer.Size)
}

func (r *Remote) sign(m *v1.Manifest) {
	sig := ed25519.Sign(r.opts.SignKey, SignedPayload(m.Annotations[AnnotationKey], m.Config, m.Layers[0]))
	m.Annotations[AnnotationSignature] = base64.StdEncoding.EncodeToString(sig)
	m.Annotations[AnnotationSigner] = KeyID(r.opts.SignKey.Public().(ed25519.PublicKey))
}

// verify checks the signature of an entry's manifest and returns the
// signer's KeyID, or "" for an entry that is unsigned or signed by a key
// we do not know. A signature by a trusted key that does not verify is
// always an error; a missing or unverifiable one is an error only with
// RequireSigned.
func (r *Remote) verify(key string, m v1.Manifest) (string, error) {
	sig64, signer := m.Annotations[AnnotationSignature], m.Annotations[AnnotationSigner]
	pub, trusted := r.trusted[signer]
	if sig64 == "" || !trusted {
		if r.opts.RequireSigned {
			if sig64 == "" {
				return "", errors.New("entry is not signed and signed entries are required")
			}
			return "", fmt.Errorf("entry is signed by %s, which is not a trusted key", signer)
		}
		return "", nil
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil || !ed25519.Verify(pub, SignedPayload(key, m.Config, m.Layers[0]), sig) {
		return "", fmt.Errorf("entry's signature by %s does not verify", signer)
	}
	return signer, nil
}

// LoadCacheKey reads the key file named by hbuild-cache-key: a PEM
// "PRIVATE KEY" (PKCS #8, as `openssl genpkey -algorithm ed25519` writes
// it), which signs and verifies, or a PEM "PUBLIC KEY" (PKIX), which only
// verifies. priv is nil for a public key file.
func LoadCacheKey(path string) (priv ed25519.PrivateKey, pub ed25519.PublicKey, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read cache key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, nil, fmt.Errorf("read cache key %s: not a PEM file", path)
	}
	switch blk.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("read cache key %s: %w", path, err)
		}
		p, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, nil, fmt.Errorf("read cache key %s: %T is not an ed25519 key (make one with hbuild cache keygen or openssl genpkey -algorithm ed25519)", path, k)
		}
		return p, p.Public().(ed25519.PublicKey), nil
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("read cache key %s: %w", path, err)
		}
		p, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, nil, fmt.Errorf("read cache key %s: %T is not an ed25519 key", path, k)
		}
		return nil, p, nil
	default:
		return nil, nil, fmt.Errorf("read cache key %s: PEM block %q, want PRIVATE KEY or PUBLIC KEY", path, blk.Type)
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
