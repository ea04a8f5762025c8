package main

import (
	"fmt"

	"github.com/hbuild/hbuild/engine"
	"github.com/spf13/cobra"
)

func init() { addCommand(newCheckCmd) }

func newCheckCmd() *cobra.Command {
	var f engineFlags
	var sameSrc bool
	cmd := &cobra.Command{
		Use:   "check [PART...]",
		Short: "Rebuild parts in a varied sandbox and compare their layers",
		Long: `Build the parts (all, or the named ones) if needed, then rebuild each from
scratch in a fresh sandbox with a different source directory, hostname, umask,
number of jobs and CPUs, and local time of day (TZ 14 hours ahead of UTC), and
compare the layer digests with the stored ones. On a
difference, name the files that differ and how (content, mode, owner, time,
link). Exit status 1 when a part is not reproducible.

Builds that record the path of their sources (C debug information, CPython's
sysconfig data and Makefile) differ by that path alone; their layers are still
identical on every machine, where the path is always the same.
--same-source-dir keeps the usual source directory to check everything else.

Example:
  hbuild check -c examples/xml/hbuild.cfg
  hbuild check zlib
  hbuild check -c examples/lxml/hbuild.cfg --same-source-dir python`,
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
			res, err := e.CheckWith(cmd.Context(), pl, parts, engine.CheckOptions{SameSourceDir: sameSrc})
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
	cmd.Flags().BoolVar(&sameSrc, "same-source-dir", false, "rebuild in the usual source directory (vary only the hostname, umask, jobs, CPUs and time of day)")
	return cmd
}
