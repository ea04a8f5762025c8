package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() { addCommand(newCheckCmd) }

func newCheckCmd() *cobra.Command {
	var f engineFlags
	cmd := &cobra.Command{
		Use:   "check [PART...]",
		Short: "Rebuild parts in a varied sandbox and compare their layers",
		Long: `Build the parts (all, or the named ones) if needed, then rebuild each from
scratch in a fresh sandbox with a different source directory, hostname, umask,
number of jobs and CPUs, and local time of day (TZ 14 hours ahead of UTC), and
compare the layer digests with the stored ones. On a
difference, name the files that differ and how (content, mode, owner, time,
link). Exit status 1 when a part is not reproducible.

Example:
  hbuild check -c examples/xml/hbuild.cfg
  hbuild check zlib`,
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
			res, err := e.Check(cmd.Context(), pl, parts)
			out := cmd.OutOrStdout()
			bad := 0
			for _, c := range res {
				if c.Same() {
					fmt.Fprintf(out, "%s: reproducible (%s)\n", c.Part, c.Stored)
					continue
				}
				bad++
				fmt.Fprintf(out, "%s: NOT reproducible: %s != %s\n", c.Part, c.Stored, c.Rebuilt)
				for _, d := range c.Diffs {
					fmt.Fprintf(out, "  %s\n", d)
				}
			}
			if err != nil {
				return err
			}
			if bad > 0 {
				return silentError{}
			}
			return nil
		},
	}
	f.bind(cmd, true)
	return cmd
}
