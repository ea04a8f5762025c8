package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hbuild/hbuild/image"
)

func init() { addCommand(newPushCmd) }

func newPushCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "push SRC DEST",
		Short: "Copy an image between an OCI layout, a docker archive, a registry and containerd",
		Long: `Copy the image at SRC to DEST and print its manifest digest.

Locations:
  oci-layout:DIR[:tag]                          an OCI image layout directory
  docker-archive:FILE[:ref]                     a docker save / docker load tarball
  docker://REF[?insecure] or REGISTRY/REPO:TAG  a registry (credentials from the
                                                docker config and credential helpers;
                                                loopback registries may use plain HTTP)
  containerd://SOCKET[?namespace=NS&name=REF]   a running containerd (namespace default)

An SBOM attached to the image in a source OCI layout is copied along to an
OCI layout or a registry.

Example:
  hbuild push oci-layout:out:xml docker://localhost:5000/xml:latest
  hbuild push oci-layout:out:xml 'containerd:///run/containerd/containerd.sock?name=localhost/xml:latest'`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := image.Copy(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Digest)
			if res.SBOM != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "hbuild: copied SBOM %s\n", res.SBOM)
			}
			return nil
		},
	}
}
