package image

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Config is the run-time configuration and metadata of an assembled image.
type Config struct {
	Entrypoint, Cmd, Env []string
	WorkDir, User        string
	Labels               map[string]string // config labels
	Annotations          map[string]string // manifest annotations; org.opencontainers.image.* ones are copied to labels too
	Platform             string            // "os/arch[/variant]"; "" = linux/amd64
	Created              time.Time         // config created and history times; zero = DefaultEpoch

	// Parts describe the part layers, in the order of Assemble's parts
	// argument. When given, they name the layers in the history and their
	// PartLabels are added to the labels (explicit Labels win).
	Parts []PartInfo
}

// PartInfo describes one part of an image: for labels, history and SBOM.
type PartInfo struct {
	Name    string // part (section) name
	Key     string // part key (hex SHA-256)
	Version string // upstream version, when known
	License string // SPDX license expression, when the profile gives it
	Sources []SourceInfo
}

// SourceInfo is one downloaded input of a part.
type SourceInfo struct {
	URL       string
	Checksums map[string]string // algorithm ("sha256", "sha512", "md5", "sha1") → hex
}

// Label keys written by PartLabels.
const (
	LabelParts      = "org.hbuild.parts"          // space-separated part names, in layer order
	LabelPartPrefix = "org.hbuild.part."          // + name + ".key" / ".sources"
	LabelFormat     = "org.hbuild.layer-format"   // FormatVersion
	annotationPfx   = "org.opencontainers.image." // annotations mirrored into labels
)

// PartLabels returns the labels recording each part's name, key and sources:
// org.hbuild.parts = "a b c", org.hbuild.part.<name>.key = <key> and
// org.hbuild.part.<name>.sources = a JSON array of {"url", "checksums"}.
func PartLabels(parts []PartInfo) map[string]string {
	l := map[string]string{LabelFormat: FormatVersion}
	names := make([]string, 0, len(parts))
	for _, p := range parts {
		names = append(names, p.Name)
		if p.Key != "" {
			l[LabelPartPrefix+p.Name+".key"] = p.Key
		}
		if len(p.Sources) > 0 {
			type src struct {
				URL       string            `json:"url"`
				Checksums map[string]string `json:"checksums,omitempty"`
			}
			ss := make([]src, len(p.Sources))
			for i, s := range p.Sources {
				ss[i] = src(s)
			}
			b, _ := json.Marshal(ss) // maps are marshalled with sorted keys
			l[LabelPartPrefix+p.Name+".sources"] = string(b)
		}
	}
	l[LabelParts] = strings.Join(names, " ")
	return l
}

// ParsePlatform parses "os/arch[/variant]"; "" is linux/amd64.
func ParsePlatform(s string) (v1.Platform, error) {
	if s == "" {
		return v1.Platform{OS: "linux", Architecture: "amd64"}, nil
	}
	f := strings.Split(s, "/")
	if len(f) < 2 || len(f) > 3 || f[0] == "" || f[1] == "" {
		return v1.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant], e.g. linux/amd64", s)
	}
	p := v1.Platform{OS: f[0], Architecture: f[1]}
	if len(f) == 3 {
		p.Variant = f[2]
	}
	return p, nil
}

// Assemble makes an OCI image of the base layers then the part layers, with
// cfg as its configuration. The result depends only on its inputs.
func Assemble(base []v1.Layer, parts []v1.Layer, cfg Config) (v1.Image, error) {
	plat, err := ParsePlatform(cfg.Platform)
	if err != nil {
		return nil, err
	}
	if len(cfg.Parts) != 0 && len(cfg.Parts) != len(parts) {
		return nil, fmt.Errorf("assemble image: %d part layers but %d part descriptions", len(parts), len(cfg.Parts))
	}
	for _, e := range cfg.Env {
		if !strings.Contains(e, "=") || strings.HasPrefix(e, "=") {
			return nil, fmt.Errorf("assemble image: env %q: want NAME=value", e)
		}
	}
	created := DefaultEpoch
	if !cfg.Created.IsZero() {
		created = cfg.Created.UTC().Truncate(time.Second)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	adds := make([]mutate.Addendum, 0, len(base)+len(parts))
	for i, l := range base {
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "hbuild",
			Comment:   fmt.Sprintf("base layer %d", i+1),
		}})
	}
	for i, l := range parts {
		comment := fmt.Sprintf("part layer %d", i+1)
		if len(cfg.Parts) > 0 {
			comment = "part " + cfg.Parts[i].Name
			if cfg.Parts[i].Key != "" {
				comment += " (key " + cfg.Parts[i].Key + ")"
			}
		}
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "hbuild",
			Comment:   comment,
		}})
	}
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("assemble image: %w", err)
	}

	labels := map[string]string{}
	if len(cfg.Parts) > 0 {
		for k, v := range PartLabels(cfg.Parts) {
			labels[k] = v
		}
	}
	for k, v := range cfg.Annotations {
		if strings.HasPrefix(k, annotationPfx) {
			labels[k] = v
		}
	}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	if len(labels) == 0 {
		labels = nil
	}

	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("assemble image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: created}
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Config = v1.Config{
		Entrypoint: cfg.Entrypoint,
		Cmd:        cfg.Cmd,
		Env:        cfg.Env,
		WorkingDir: cfg.WorkDir,
		User:       cfg.User,
		Labels:     labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("assemble image: %w", err)
	}

	anns := map[string]string{ocispec.AnnotationCreated: created.Format(time.RFC3339)}
	for k, v := range cfg.Annotations {
		anns[k] = v
	}
	return mutate.Annotations(img, anns).(v1.Image), nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
