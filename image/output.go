package image

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Schemes accepted by Write and Load, for messages.
const schemesHelp = "oci-layout:DIR[:tag], docker-archive:FILE[:ref], docker://REF[?insecure], REGISTRY/REPO[:tag] or containerd://SOCKET[?namespace=NS&name=REF]"

// Location is a parsed image location (a Write destination or a Load source).
type Location struct {
	Scheme string // "oci-layout", "docker-archive", "docker" or "containerd"
	Path   string // layout directory, archive file or containerd socket
	Ref    string // layout tag, archive reference, registry reference or containerd image name
	// Insecure allows plain HTTP and unverified TLS for a registry
	// ("?insecure"); loopback registries always allow HTTP.
	Insecure bool
	// Namespace is the containerd namespace ("default" when not given).
	Namespace string
}

// ParseLocation parses an image location:
//
//	oci-layout:DIR[:tag]      (also oci:DIR[:tag])
//	docker-archive:FILE[:ref]
//	docker://REF[?insecure]
//	REGISTRY/REPO[:tag|@digest] (a reference whose first component is a registry host)
//	containerd://SOCKET[?namespace=NS&name=REF]
func ParseLocation(s string) (*Location, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if ok {
		switch scheme {
		case "oci-layout", "oci":
			dir, tag, _ := strings.Cut(rest, ":")
			if dir == "" {
				return nil, fmt.Errorf("image location %q: no directory (want oci-layout:DIR[:tag])", s)
			}
			return &Location{Scheme: "oci-layout", Path: dir, Ref: tag}, nil
		case "docker-archive":
			file, ref, _ := strings.Cut(rest, ":")
			if file == "" {
				return nil, fmt.Errorf("image location %q: no file (want docker-archive:FILE[:ref])", s)
			}
			if ref != "" {
				if _, err := name.NewTag(ref); err != nil {
					return nil, fmt.Errorf("image location %q: reference %q: %w", s, ref, err)
				}
			}
			return &Location{Scheme: "docker-archive", Path: file, Ref: ref}, nil
		case "docker":
			if !strings.HasPrefix(rest, "//") {
				return nil, fmt.Errorf("image location %q: want docker://REF", s)
			}
			return parseRegistry(s, strings.TrimPrefix(rest, "//"))
		case "containerd":
			if !strings.HasPrefix(rest, "//") {
				return nil, fmt.Errorf("image location %q: want containerd://SOCKET[?namespace=NS&name=REF]", s)
			}
			sock, query, _ := strings.Cut(strings.TrimPrefix(rest, "//"), "?")
			if sock == "" {
				return nil, fmt.Errorf("image location %q: no socket path", s)
			}
			q, err := url.ParseQuery(query)
			if err != nil {
				return nil, fmt.Errorf("image location %q: %w", s, err)
			}
			l := &Location{Scheme: "containerd", Path: sock, Namespace: q.Get("namespace"), Ref: q.Get("name")}
			for k := range q {
				if k != "namespace" && k != "name" {
					return nil, fmt.Errorf("image location %q: unknown parameter %q (want namespace, name)", s, k)
				}
			}
			if l.Namespace == "" {
				l.Namespace = "default"
			}
			return l, nil
		}
	}
	if !strings.Contains(s, "://") {
		if first, _, ok := strings.Cut(s, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
			return parseRegistry(s, s)
		}
	}
	return nil, fmt.Errorf("image location %q: unknown scheme; use %s", s, schemesHelp)
}

func parseRegistry(s, ref string) (*Location, error) {
	ref, query, _ := strings.Cut(ref, "?")
	l := &Location{Scheme: "docker", Ref: ref}
	switch query {
	case "":
	case "insecure", "insecure=true", "insecure=1":
		l.Insecure = true
	default:
		return nil, fmt.Errorf("image location %q: unknown parameter %q (want ?insecure)", s, query)
	}
	if _, err := l.reference(); err != nil {
		return nil, fmt.Errorf("image location %q: %w", s, err)
	}
	return l, nil
}

func (l *Location) reference() (name.Reference, error) {
	var opts []name.Option
	if l.Insecure {
		opts = append(opts, name.Insecure)
	}
	return name.ParseReference(l.Ref, opts...)
}

// String formats the location as ParseLocation reads it.
func (l *Location) String() string {
	switch l.Scheme {
	case "docker":
		s := "docker://" + l.Ref
		if l.Insecure {
			s += "?insecure"
		}
		return s
	case "containerd":
		q := url.Values{"namespace": {l.Namespace}}
		if l.Ref != "" {
			q.Set("name", l.Ref)
		}
		return "containerd://" + l.Path + "?" + q.Encode()
	default:
		if l.Ref != "" {
			return l.Scheme + ":" + l.Path + ":" + l.Ref
		}
		return l.Scheme + ":" + l.Path
	}
}

// Write sends img to dest (see ParseLocation) and returns the manifest
// digest ("sha256:..."). File outputs appear complete or not at all.
func Write(ctx context.Context, img v1.Image, dest string) (string, error) {
	l, err := ParseLocation(dest)
	if err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("write image to %s: %w", dest, err)
	}
	switch l.Scheme {
	case "oci-layout":
		err = writeLayout(ctx, img, l.Path, l.Ref)
	case "docker-archive":
		err = writeArchive(ctx, img, l.Path, l.Ref)
	case "docker":
		err = push(ctx, img, l)
	case "containerd":
		err = importContainerd(ctx, img, l)
	}
	if err != nil {
		return "", fmt.Errorf("write image to %s: %w", dest, err)
	}
	return d.String(), nil
}

// Load reads the image at ref (see ParseLocation). An OCI layout without a
// tag must hold exactly one image.
func Load(ctx context.Context, ref string) (v1.Image, error) {
	l, err := ParseLocation(ref)
	if err != nil {
		return nil, err
	}
	var img v1.Image
	switch l.Scheme {
	case "oci-layout":
		img, err = loadLayout(l.Path, l.Ref)
	case "docker-archive":
		img, err = loadArchive(l.Path, l.Ref)
	case "docker":
		img, err = pull(ctx, l)
	case "containerd":
		img, err = loadContainerd(ctx, l)
	}
	if err != nil {
		return nil, fmt.Errorf("load image %s: %w", ref, err)
	}
	return img, nil
}
