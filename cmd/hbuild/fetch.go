package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() { addCommand(newFetchCmd) }

func newFetchCmd() *cobra.Command {
	var f engineFlags
	cmd := &cobra.Command{
		Use:   "fetch [PART...] [section:option=value...]",
		Short: "Download every source of the profile into the download cache",
		Long: `Fetch the sources (urls, patches, Debian source packages) of every part, or
of the named parts and their dependencies, checking their checksums, into the
content-addressed download cache. A later build --offline then needs no
network. Prints one line per source: part, option, sha256, url.

Example:
  hbuild fetch -c examples/xml/hbuild.cfg
  hbuild build -c examples/xml/hbuild.cfg --offline`,
		RunE: func(cmd *cobra.Command, args []string) error {
			overrides, parts := splitArgs(args)
			r, err := newRenderer(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			e, pl, err := setup(cmd.Context(), &f, overrides, r.Event)
			if err != nil {
				return err
			}
			got, err := e.Fetch(cmd.Context(), pl, parts)
			for _, s := range got {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s\t%s\n", s.Part, s.Option, s.SHA256, s.URL)
			}
			return err
		},
	}
	f.bind(cmd, false)
	return cmd
}
