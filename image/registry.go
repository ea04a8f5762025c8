package image

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// remoteOptions authenticate through the default keychain (docker config
// and credential helpers) and, for an insecure location, skip TLS
// verification.
func remoteOptions(ctx context.Context, l *Location) []remote.Option {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	if l.Insecure {
		tr := remote.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for with ?insecure
		opts = append(opts, remote.WithTransport(tr))
	}
	return opts
}

func push(ctx context.Context, img v1.Image, l *Location) error {
	ref, err := l.reference()
	if err != nil {
		return err
	}
	return explain(remote.Write(ref, img, remoteOptions(ctx, l)...), l)
}

// explain adds what to do to a registry's refusal.
func explain(err error, l *Location) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	host := l.Ref
	if ref, rerr := l.reference(); rerr == nil {
		host = ref.Context().RegistryStr()
	}
	switch te.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w (the registry wants credentials: run docker login %s, or add them or a credential helper to $DOCKER_CONFIG/config.json)", err, host)
	case http.StatusForbidden:
		return fmt.Errorf("%w (the registry refused: check that these credentials may push to %s)", err, l.Ref)
	}
	return err
}

func pull(ctx context.Context, l *Location) (v1.Image, error) {
	ref, err := l.reference()
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(ref, remoteOptions(ctx, l)...)
	return img, explain(err, l)
}
