package cache

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// cosignPayload is the simple-signing payload as the cosign
// documentation gives it, written out here rather than taken from the
// package.
func cosignPayload(repo, digest string) string {
	return `{"critical":{"identity":{"docker-reference":"` + repo + `"},"image":{"docker-manifest-digest":"` + digest + `"},"type":"cosign container image signature"},"optional":null}`
}

// cosignSign signs payload as cosign does: ed25519 over the bytes, ECDSA
// over their SHA-256 (ASN.1 DER).
func cosignSign(t *testing.T, k crypto.Signer, payload []byte) string {
	t.Helper()
	var sig []byte
	var err error
	switch k := k.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, payload)
	case *ecdsa.PrivateKey:
		h := sha256.Sum256(payload)
		sig, err = ecdsa.SignASN1(rand.Reader, k, h[:])
	default:
		t.Fatalf("key %T", k)
	}
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// putSignature writes a cosign signature manifest for digest by hand: an
// OCI image config, one simple-signing layer holding payload, annotated
// with sig.
func putSignature(t *testing.T, host, digest string, payload []byte, sig string) {
	t.Helper()
	pd := uploadBlob(t, host, payload)
	cfg := []byte(fmt.Sprintf(`{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}`, pd))
	cd := uploadBlob(t, host, cfg)
	raw := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":%d,"digest":"%s"},`+
		`"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":%d,"digest":"%s",`+
		`"annotations":{"dev.cosignproject.cosign/signature":"%s"}}]}`, len(cfg), cd, len(payload), pd, sig)
	putManifest(t, host, "sha256-"+strings.TrimPrefix(digest, "sha256:")+".sig", []byte(raw))
}

func manifestDigest(t *testing.T, host, tag string) string {
	t.Helper()
	ref, err := name.NewTag(host+"/hbuild/cache:"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(ref, remote.WithAuthFromKeychain(anonymous))
	if err != nil {
		t.Fatalf("head %s: %v", tag, err)
	}
	return d.Digest.String()
}

// copyEntry puts a copy of the entry of from under the key to, its key
// changed in the manifest and the metadata (a manifest of another digest).
func copyEntry(t *testing.T, host, from, to string) string {
	t.Helper()
	m := getManifest(t, host, from)
	var meta Meta
	if err := json.Unmarshal(m.Config.Data, &meta); err != nil {
		t.Fatal(err)
	}
	meta.Key = to
	cfg := mustJSON(t, &meta)
	m.Config.Digest, m.Config.Size, m.Config.Data = uploadBlob(t, host, cfg), int64(len(cfg)), cfg
	m.Annotations[AnnotationKey] = to
	putManifest(t, host, to, mustRaw(t, m))
	return manifestDigest(t, host, to)
}

// signingCases checks signature policy against a registry at host; it is
// shared by the in-memory and the real registry tests.
func signingCases(t *testing.T, host string) {
	ctx := context.Background()
	ka, kb, kc := newKey(t), newKey(t), newECKey(t)
	repo := host + "/hbuild/cache"
	signed := builtPart(t, openStore(t), rkey("signed"), "signed", "s", nil)
	signedEC := builtPart(t, openStore(t), rkey("signed-ec"), "signedec", "e", nil)
	unsigned := builtPart(t, openStore(t), rkey("unsigned"), "unsigned", "u", nil)
	mustPush(t, openRemote(t, host, RemoteOptions{SignKey: ka}), signed)
	mustPush(t, openRemote(t, host, RemoteOptions{SignKey: kc}), signedEC)
	mustPush(t, openRemote(t, host, RemoteOptions{}), unsigned)
	signedSig := getManifest(t, host, SignatureTag(manifestDigest(t, host, signed.Key)))

	// forged: the right payload for its digest, with the signature of
	// another payload.
	forged := rkey("forged")
	fd := copyEntry(t, host, signed.Key, forged)
	putSignature(t, host, fd, []byte(cosignPayload(repo, fd)), signedSig.Layers[0].Annotations[AnnotationCosignSignature])
	// replayed: a genuine signature of another manifest.
	replayed := rkey("replayed")
	rd := copyEntry(t, host, signed.Key, replayed)
	putManifest(t, host, SignatureTag(rd), mustRaw(t, signedSig))
	// byCosign: signed by hand, as cosign sign -a creator=cosign would,
	// with a payload that is not the one hbuild writes.
	byCosign := rkey("by-cosign")
	bd := copyEntry(t, host, signedEC.Key, byCosign)
	payload := []byte(strings.Replace(cosignPayload(repo, bd), `"optional":null`, `"optional":{"creator":"cosign"}`, 1))
	putSignature(t, host, bd, payload, cosignSign(t, kc, payload))

	all := []string{signed.Key, signedEC.Key, unsigned.Key, forged, replayed, byCosign}
	edOK, ecOK := []string{signed.Key}, []string{signedEC.Key, byCosign}
	pub := func(k crypto.Signer) crypto.PublicKey { return k.Public() }
	cases := []struct {
		name     string
		opts     RemoteOptions
		accepted []string
	}{
		{"ed25519 key, required", RemoteOptions{TrustedKeys: []crypto.PublicKey{pub(ka)}, RequireSigned: true}, edOK},
		{"ecdsa key, required", RemoteOptions{TrustedKeys: []crypto.PublicKey{pub(kc)}, RequireSigned: true}, ecOK},
		{"both keys, required", RemoteOptions{TrustedKeys: []crypto.PublicKey{pub(ka), pub(kc)}, RequireSigned: true}, append(append([]string(nil), edOK...), ecOK...)},
		{"ed25519 signing key trusts itself", RemoteOptions{SignKey: ka, RequireSigned: true}, edOK},
		{"ecdsa signing key trusts itself", RemoteOptions{SignKey: kc, RequireSigned: true}, ecOK},
		{"wrong key, required", RemoteOptions{TrustedKeys: []crypto.PublicKey{pub(kb)}, RequireSigned: true}, nil},
		{"wrong key, not required", RemoteOptions{TrustedKeys: []crypto.PublicKey{pub(kb)}}, all},
		{"good keys, not required", RemoteOptions{TrustedKeys: []crypto.PublicKey{pub(ka), pub(kc)}}, all},
		{"no keys", RemoteOptions{}, all},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := openRemote(t, host, c.opts)
			found, ws := r.LookupAll(ctx, all)
			var acc []string
			for k := range found {
				acc = append(acc, k)
			}
			sort.Strings(acc)
			want := append([]string(nil), c.accepted...)
			sort.Strings(want)
			var rej []string
			for _, k := range all {
				if found[k] == nil {
					rej = append(rej, k)
				}
			}
			sort.Strings(rej)
			if strings.Join(acc, ",") != strings.Join(want, ",") {
				t.Errorf("accepted %v, want %v (warnings %v)", acc, want, ws)
			}
			if strings.Join(warnedKeys(ws), ",") != strings.Join(rej, ",") {
				t.Errorf("warnings for %v, want %v: %v", warnedKeys(ws), rej, ws)
			}
			for _, w := range ws {
				if !strings.Contains(w.Err.Error(), "signed entries are required") {
					t.Errorf("warning %v", w)
				}
			}
			trusts := map[string]bool{}
			for id := range r.trusted {
				trusts[id] = true
			}
			for k, e := range found {
				wantSigner := ""
				switch {
				case k == signed.Key && trusts[KeyID(pub(ka))]:
					wantSigner = KeyID(pub(ka))
				case (k == signedEC.Key || k == byCosign) && trusts[KeyID(pub(kc))]:
					wantSigner = KeyID(pub(kc))
				}
				if e.Signer != wantSigner {
					t.Errorf("%s: signer %q, want %q", k[:12], e.Signer, wantSigner)
				}
			}
			// Accepted signed entries also pull.
			for _, e := range []*Entry{signed, signedEC} {
				if found[e.Key] == nil {
					continue
				}
				got, err := r.Pull(ctx, found[e.Key], openStore(t))
				if err != nil {
					t.Fatal(err)
				}
				samePart(t, got, e)
			}
		})
	}
}

// TestCosignFormat checks what a signing push writes against cosign's
// format, read with nothing but the registry API and the standard
// library: the signature manifest tagged sha256-HEX.sig, its one
// simple-signing layer, the payload's exact bytes and the signature.
func TestCosignFormat(t *testing.T) {
	reg := newMemRegistry(t)
	ctx := context.Background()
	host := reg.host()
	for _, k := range []crypto.Signer{newKey(t), newECKey(t)} {
		t.Run(fmt.Sprintf("%T", k), func(t *testing.T) {
			e := builtPart(t, openStore(t), rkey(fmt.Sprintf("cosign-%T", k)), "p", "x", nil)
			r := openRemote(t, host, RemoteOptions{SignKey: k})
			mustPush(t, r, e)
			digest := manifestDigest(t, host, e.Key)
			tag := "sha256-" + strings.TrimPrefix(digest, "sha256:") + ".sig"
			sm := getManifest(t, host, tag)
			if sm.MediaType != "application/vnd.oci.image.manifest.v1+json" || sm.Config.MediaType != "application/vnd.oci.image.config.v1+json" || len(sm.Layers) != 1 {
				t.Fatalf("signature manifest: %+v", sm)
			}
			l := sm.Layers[0]
			if l.MediaType != "application/vnd.dev.cosign.simplesigning.v1+json" {
				t.Fatalf("signature layer media type %q", l.MediaType)
			}
			sig, err := base64.StdEncoding.DecodeString(l.Annotations["dev.cosignproject.cosign/signature"])
			if err != nil || len(sig) == 0 {
				t.Fatalf("signature annotation %q: %v", l.Annotations["dev.cosignproject.cosign/signature"], err)
			}
			resp, err := http.Get("http://" + host + "/v2/hbuild/cache/blobs/" + l.Digest.String())
			if err != nil {
				t.Fatal(err)
			}
			payload, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if want := cosignPayload(host+"/hbuild/cache", digest); string(payload) != want {
				t.Fatalf("payload\n%s\nwant\n%s", payload, want)
			}
			ok := false
			switch k := k.(type) {
			case ed25519.PrivateKey:
				ok = ed25519.Verify(k.Public().(ed25519.PublicKey), payload, sig)
			case *ecdsa.PrivateKey:
				h := sha256.Sum256(payload)
				ok = ecdsa.VerifyASN1(&k.PublicKey, h[:], sig)
			}
			if !ok {
				t.Fatal("the signature does not verify over the payload")
			}
			// The entry verifies, and deleting it deletes its signature.
			got, err := openRemote(t, host, RemoteOptions{TrustedKeys: []crypto.PublicKey{k.Public()}, RequireSigned: true}).Lookup(ctx, e.Key)
			if err != nil || got == nil || got.Signer != KeyID(k.Public()) {
				t.Fatalf("lookup: %+v %v", got, err)
			}
			if err := r.Delete(ctx, e.Key); err != nil {
				t.Fatal(err)
			}
			ref, _ := name.NewTag(host+"/hbuild/cache:"+tag, name.Insecure)
			if _, err := remote.Head(ref, remote.WithAuthFromKeychain(anonymous)); !notFound(err) {
				t.Errorf("signature left after delete: %v", err)
			}
		})
	}
}

// TestRemoteHitRequests: a hit costs the manifest and the layer (the
// metadata is in the manifest); verifying a signature costs the signature
// manifest (the payload hbuild writes is known, not fetched).
func TestRemoteHitRequests(t *testing.T) {
	reg := newMemRegistry(t)
	ctx := context.Background()
	k := newKey(t)
	e := builtPart(t, openStore(t), rkey("hit"), "hit", "h", nil)
	mustPush(t, openRemote(t, reg.host(), RemoteOptions{SignKey: k}), e)
	digest := manifestDigest(t, reg.host(), e.Key)
	sm := getManifest(t, reg.host(), SignatureTag(digest))
	cfg := getManifest(t, reg.host(), e.Key).Config.Digest.String()
	for _, verify := range []bool{false, true} {
		t.Run(fmt.Sprintf("verify=%v", verify), func(t *testing.T) {
			opts := RemoteOptions{}
			if verify {
				opts = RemoteOptions{TrustedKeys: []crypto.PublicKey{k.Public()}, RequireSigned: true}
			}
			reg.reset()
			pulled, ws := openRemote(t, reg.host(), opts).Prefetch(ctx, openStore(t), []string{e.Key})
			if len(ws) != 0 || pulled[e.Key] == nil {
				t.Fatalf("prefetch: %v %v", pulled, ws)
			}
			samePart(t, pulled[e.Key], e)
			sigGets := 0
			if verify {
				sigGets = 1
			}
			for path, want := range map[string]int{
				"/v2/hbuild/cache/manifests/" + e.Key:                    1,
				"/v2/hbuild/cache/blobs/" + e.Meta.Layer.Digest:          1,
				"/v2/hbuild/cache/blobs/" + cfg:                          0,
				"/v2/hbuild/cache/manifests/" + SignatureTag(digest):     sigGets,
				"/v2/hbuild/cache/blobs/" + sm.Layers[0].Digest.String(): 0,
			} {
				if n := reg.count(http.MethodGet, path); n != want {
					t.Errorf("GET %s: %d requests, want %d", path, n, want)
				}
			}
		})
	}
}

// TestRemoteOldFormatEntry: an entry without embedded metadata (as
// earlier hbuild versions pushed) is read from its config blob.
func TestRemoteOldFormatEntry(t *testing.T) {
	reg := newMemRegistry(t)
	ctx := context.Background()
	e := builtPart(t, openStore(t), rkey("old"), "old", "o", nil)
	mustPush(t, openRemote(t, reg.host(), RemoteOptions{}), e)
	m := getManifest(t, reg.host(), e.Key)
	if !bytes.Contains(m.Config.Data, []byte(`"part":"old"`)) {
		t.Fatalf("metadata not embedded: %q", m.Config.Data)
	}
	m.Config.Data = nil
	putManifest(t, reg.host(), e.Key, mustRaw(t, m))
	reg.reset()
	pulled, ws := openRemote(t, reg.host(), RemoteOptions{}).Prefetch(ctx, openStore(t), []string{e.Key})
	if len(ws) != 0 || pulled[e.Key] == nil {
		t.Fatalf("prefetch: %v %v", pulled, ws)
	}
	samePart(t, pulled[e.Key], e)
	if n := reg.count(http.MethodGet, "/v2/hbuild/cache/blobs/"+m.Config.Digest.String()); n != 1 {
		t.Errorf("config blob fetched %d times, want 1", n)
	}
}

func TestCacheKeyFilesECDSA(t *testing.T) {
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ec := newECKey(t)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	pkix, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{write("ec.key", "PRIVATE KEY", pkcs8), write("ec1.key", "EC PRIVATE KEY", sec1)} {
		sk, pk, err := LoadCacheKey(p)
		if err != nil || sk == nil || !ec.PublicKey.Equal(pk) {
			t.Fatalf("load %s: %v %v %v", filepath.Base(p), sk, pk, err)
		}
	}
	sk, pk, err := LoadCacheKey(write("ec.pub", "PUBLIC KEY", pkix))
	if err != nil || sk != nil || !ec.PublicKey.Equal(pk) {
		t.Fatalf("load public: %v %v %v", sk, pk, err)
	}
	// Keys cosign cannot verify with here, or hbuild cannot sign with.
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384der, _ := x509.MarshalPKCS8PrivateKey(p384)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsader, _ := x509.MarshalPKCS8PrivateKey(rk)
	rsapub, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	for _, p := range []string{
		write("p384.key", "PRIVATE KEY", p384der),
		write("rsa.key", "PRIVATE KEY", rsader),
		write("rsa.pub", "PUBLIC KEY", rsapub),
		write("cosign.key", "ENCRYPTED SIGSTORE PRIVATE KEY", []byte("x")),
	} {
		if _, _, err := LoadCacheKey(p); err == nil {
			t.Errorf("%s accepted", filepath.Base(p))
		}
	}
	// Settings with an ECDSA key sign with it.
	r, err := (RemoteSettings{Ref: "127.0.0.1:5000/c", KeyFile: filepath.Join(dir, "ec.key")}).Open()
	if err != nil || r.opts.SignKey == nil || len(r.trusted) != 1 || r.trusted[KeyID(&ec.PublicKey)] == nil {
		t.Fatalf("settings: %v %v", r, err)
	}
	if _, err := OpenRemote("127.0.0.1:5000/c", RemoteOptions{TrustedKeys: []crypto.PublicKey{&rk.PublicKey}}); err == nil {
		t.Error("an RSA trusted key accepted")
	}
	if _, err := OpenRemote("127.0.0.1:5000/c", RemoteOptions{SignKey: p384}); err == nil {
		t.Error("a P-384 signing key accepted")
	}
	// cosign's payload bytes, from the package.
	if got, want := string(CosignPayload("r/x", "sha256:ab")), cosignPayload("r/x", "sha256:ab"); got != want {
		t.Errorf("CosignPayload = %s, want %s", got, want)
	}
	var p simpleSigning
	if err := json.Unmarshal(CosignPayload("r/x", "sha256:ab"), &p); err != nil || !payloadNames(CosignPayload("r/x", "sha256:ab"), "sha256:ab") {
		t.Errorf("payload does not parse: %v", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
