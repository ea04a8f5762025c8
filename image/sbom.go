package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types of the SBOM artifact.
const (
	MediaTypeSPDX  = "application/spdx+json"
	mediaTypeEmpty = "application/vnd.oci.empty.v1+json"
)

// SBOMInput is what an SBOM says about an image besides its digest.
type SBOMInput struct {
	Name  string        // image name, e.g. the oci-image section name
	Parts []PartInfo    // the parts whose layers the image holds
	Base  []BasePackage // the packages of the base file system
}

// BasePackage is one Debian package of the base.
type BasePackage struct {
	Name, Version, Arch string
	Distro              string // purl namespace, "debian" when empty
}

type spdxDoc struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreation       `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID               string         `json:"SPDXID"`
	Name                 string         `json:"name"`
	VersionInfo          string         `json:"versionInfo,omitempty"`
	Supplier             string         `json:"supplier,omitempty"`
	DownloadLocation     string         `json:"downloadLocation"`
	FilesAnalyzed        bool           `json:"filesAnalyzed"`
	Checksums            []spdxChecksum `json:"checksums,omitempty"`
	LicenseConcluded     string         `json:"licenseConcluded"`
	LicenseDeclared      string         `json:"licenseDeclared"`
	CopyrightText        string         `json:"copyrightText"`
	PrimaryPackagePurpse string         `json:"primaryPackagePurpose,omitempty"`
	ExternalRefs         []spdxExtRef   `json:"externalRefs,omitempty"`
	Comment              string         `json:"comment,omitempty"`
}

type spdxChecksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxExtRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

const noAssertion = "NOASSERTION"

// spdxID makes an SPDX identifier: letters, digits, '.' and '-' only.
func spdxID(parts ...string) string {
	s := strings.Join(parts, "-")
	return "SPDXRef-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, s)
}

func spdxChecksums(m map[string]string) []spdxChecksum {
	var out []spdxChecksum
	for _, algo := range sortedKeys(m) {
		out = append(out, spdxChecksum{Algorithm: strings.ToUpper(algo), Value: strings.ToLower(m[algo])})
	}
	return out
}

func orNoAssertion(s string) string {
	if s == "" {
		return noAssertion
	}
	return s
}

// SBOM returns an SPDX 2.3 JSON document for img: the image itself, each
// part with its sources, checksums and license, and each base package with
// its version. The document depends only on its inputs.
func SBOM(img v1.Image, in SBOMInput) ([]byte, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("make SBOM: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("make SBOM: %w", err)
	}
	created := cf.Created.UTC()
	if created.IsZero() {
		created = DefaultEpoch
	}
	imgName := in.Name
	if imgName == "" {
		imgName = "image"
	}
	doc := spdxDoc{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              imgName,
		DocumentNamespace: "urn:hbuild:sbom:" + imgName + ":" + d.String(),
		CreationInfo: spdxCreation{
			Created:  created.Format(time.RFC3339),
			Creators: []string{"Tool: hbuild (" + FormatVersion + ")"},
		},
	}
	imageID := "SPDXRef-Image"
	doc.Packages = append(doc.Packages, spdxPackage{
		SPDXID:               imageID,
		Name:                 imgName,
		DownloadLocation:     noAssertion,
		Checksums:            []spdxChecksum{{Algorithm: "SHA256", Value: d.Hex}},
		LicenseConcluded:     noAssertion,
		LicenseDeclared:      noAssertion,
		CopyrightText:        noAssertion,
		PrimaryPackagePurpse: "CONTAINER",
		ExternalRefs: []spdxExtRef{{
			Category: "PACKAGE-MANAGER", Type: "purl",
			Locator: "pkg:oci/" + strings.ToLower(spdxSafe(imgName)) + "@" + strings.ReplaceAll(d.String(), ":", "%3A"),
		}},
	})
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", imageID})
	for _, p := range in.Parts {
		id := spdxID("Part", p.Name)
		pkg := spdxPackage{
			SPDXID:           id,
			Name:             p.Name,
			VersionInfo:      p.Version,
			DownloadLocation: noAssertion,
			LicenseConcluded: orNoAssertion(p.License),
			LicenseDeclared:  orNoAssertion(p.License),
			CopyrightText:    noAssertion,
		}
		if p.Key != "" {
			pkg.Comment = "hbuild part key " + p.Key
		}
		if len(p.Sources) == 1 {
			pkg.DownloadLocation = p.Sources[0].URL
			pkg.Checksums = spdxChecksums(p.Sources[0].Checksums)
		}
		doc.Packages = append(doc.Packages, pkg)
		doc.Relationships = append(doc.Relationships, spdxRelationship{imageID, "CONTAINS", id})
		if len(p.Sources) > 1 {
			for i, s := range p.Sources {
				sid := spdxID("Source", p.Name, fmt.Sprint(i+1))
				doc.Packages = append(doc.Packages, spdxPackage{
					SPDXID:           sid,
					Name:             filepath.Base(s.URL),
					DownloadLocation: orNoAssertion(s.URL),
					Checksums:        spdxChecksums(s.Checksums),
					LicenseConcluded: noAssertion,
					LicenseDeclared:  noAssertion,
					CopyrightText:    noAssertion,
				})
				doc.Relationships = append(doc.Relationships, spdxRelationship{id, "GENERATED_FROM", sid})
			}
		}
	}
	for _, b := range in.Base {
		distro := b.Distro
		if distro == "" {
			distro = "debian"
		}
		purl := "pkg:deb/" + distro + "/" + b.Name + "@" + b.Version
		if b.Arch != "" {
			purl += "?arch=" + b.Arch
		}
		id := spdxID("Deb", b.Name, b.Arch)
		doc.Packages = append(doc.Packages, spdxPackage{
			SPDXID:           id,
			Name:             b.Name,
			VersionInfo:      b.Version,
			Supplier:         "Organization: " + distro,
			DownloadLocation: noAssertion,
			LicenseConcluded: noAssertion,
			LicenseDeclared:  noAssertion,
			CopyrightText:    noAssertion,
			ExternalRefs:     []spdxExtRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: purl}},
		})
		doc.Relationships = append(doc.Relationships, spdxRelationship{imageID, "CONTAINS", id})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("make SBOM: %w", err)
	}
	return append(b, '\n'), nil
}

func spdxSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, s)
}

// sbomArtifact is an OCI artifact manifest carrying an SBOM, whose subject
// is the image it describes.
type sbomArtifact struct {
	raw  []byte
	sbom []byte
}

func (a *sbomArtifact) RawManifest() ([]byte, error)        { return a.raw, nil }
func (a *sbomArtifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

var emptyJSON = []byte("{}")

func newSBOMArtifact(img v1.Image, sbom []byte) (*sbomArtifact, error) {
	subject, err := partial.Descriptor(img)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	sh, _, _ := v1.SHA256(bytes.NewReader(sbom))
	eh, _, _ := v1.SHA256(bytes.NewReader(emptyJSON))
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config: v1.Descriptor{
			MediaType: mediaTypeEmpty, Digest: eh, Size: int64(len(emptyJSON)), Data: emptyJSON,
		},
		Layers: []v1.Descriptor{{
			MediaType:   MediaTypeSPDX,
			Digest:      sh,
			Size:        int64(len(sbom)),
			Annotations: map[string]string{ocispec.AnnotationTitle: "sbom.spdx.json"},
		}},
		Subject:     &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: map[string]string{ocispec.AnnotationCreated: cf.Created.UTC().Format(time.RFC3339)},
	}
	// ggcr's Manifest has no artifactType field: add it to the JSON.
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	obj["artifactType"] = json.RawMessage(`"` + MediaTypeSPDX + `"`)
	raw, err = json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return &sbomArtifact{raw: raw, sbom: sbom}, nil
}

// AttachSBOM stores sbom as an OCI artifact whose subject is img, at the
// location img was written to (dest, as given to Write), and, for file
// outputs, writes it beside them as a file. It returns the artifact's
// manifest digest and the path of the file written ("" for registries).
//
//	oci-layout:DIR[:tag]      artifact in the layout's index.json (untagged,
//	                          artifactType application/spdx+json, found by
//	                          its subject); file DIR[-tag].spdx.json
//	docker-archive:FILE[:ref] file FILE.spdx.json only (the format has no
//	                          place for artifacts)
//	docker://REF              artifact pushed by digest to REF's repository
//	containerd://…            not supported: write the SBOM to a file
func AttachSBOM(ctx context.Context, img v1.Image, dest string, sbom []byte) (digest, file string, err error) {
	l, err := ParseLocation(dest)
	if err != nil {
		return "", "", err
	}
	art, err := newSBOMArtifact(img, sbom)
	if err != nil {
		return "", "", fmt.Errorf("attach SBOM to %s: %w", dest, err)
	}
	ah, _, _ := v1.SHA256(bytes.NewReader(art.raw))
	switch l.Scheme {
	case "oci-layout":
		file = filepath.Clean(l.Path)
		if l.Ref != "" {
			file += "-" + spdxSafe(l.Ref)
		}
		file += ".spdx.json"
		err = attachLayout(art, l.Path)
		if err == nil {
			err = atomicWriteBytes(file, sbom)
		}
	case "docker-archive":
		file = l.Path + ".spdx.json"
		err = atomicWriteBytes(file, sbom)
		ah = v1.Hash{}
	case "docker":
		err = attachRegistry(ctx, art, l)
	default:
		err = fmt.Errorf("containerd has no place for an SBOM artifact; write it to an OCI layout or a file")
	}
	if err != nil {
		return "", "", fmt.Errorf("attach SBOM to %s: %w", dest, err)
	}
	if ah.Hex == "" {
		return "", file, nil
	}
	return ah.String(), file, nil
}

func attachLayout(art *sbomArtifact, dir string) error {
	l, err := openLayout(dir)
	if err != nil {
		return err
	}
	defer l.close()
	if _, err := l.writeBytes(emptyJSON); err != nil {
		return err
	}
	if _, err := l.writeBytes(art.sbom); err != nil {
		return err
	}
	h, err := l.writeBytes(art.raw)
	if err != nil {
		return err
	}
	return l.addDescriptor(v1.Descriptor{
		MediaType:    types.OCIManifestSchema1,
		Digest:       h,
		Size:         int64(len(art.raw)),
		ArtifactType: MediaTypeSPDX,
	}, "")
}

func attachRegistry(ctx context.Context, art *sbomArtifact, l *Location) error {
	ref, err := l.reference()
	if err != nil {
		return err
	}
	repo := ref.Context()
	opts := remoteOptions(ctx, l)
	for _, b := range []struct {
		data []byte
		mt   types.MediaType
	}{{emptyJSON, mediaTypeEmpty}, {art.sbom, MediaTypeSPDX}} {
		if err := remote.WriteLayer(repo, static.NewLayer(b.data, b.mt), opts...); err != nil {
			return err
		}
	}
	ah, _, _ := v1.SHA256(bytes.NewReader(art.raw))
	return remote.Put(repo.Digest(ah.String()), art, opts...)
}
