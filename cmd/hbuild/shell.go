package main

import (
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hbuild/hbuild/engine"
)

func init() { addCommand(newShellCmd) }

func newShellCmd() *cobra.Command {
	var f engineFlags
	cmd := &cobra.Command{
		Use:   "shell PART [-- COMMAND...]",
		Short: "Open a shell in a part's build sandbox",
		Long: `Open an interactive shell in exactly the sandbox PART is built in: the same
toolchain base, its dependencies mounted read-only at their locations, the
same environment, its location writable and its sources in /build. When the
last build of PART failed with --keep-failed, the kept tree is used, so the
shell starts where the build stopped. Dependencies are built first.

Example:
  hbuild build --keep-failed libxslt
  hbuild shell libxslt
  hbuild shell libxml2 -- sh -c 'ls $HBUILD_DIRECTORY/parts'`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var command []string
			if n := cmd.ArgsLenAtDash(); n >= 0 {
				command, args = args[n:], args[:n]
			}
			if len(args) != 1 {
				return usagef("shell takes one part")
			}
			r, err := newRenderer(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			e, pl, err := setup(cmd.Context(), &f, nil, r.Event)
			if err != nil {
				return err
			}
			tty := term.IsTerminal(int(os.Stdin.Fd())) && len(command) == 0
			return e.Shell(cmd.Context(), pl, args[0], engine.ShellOptions{
				Stdin: os.Stdin, Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr(), TTY: tty, Args: command,
			})
		},
	}
	f.bind(cmd, false)
	return cmd
}
