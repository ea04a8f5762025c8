package main

import (
	"errors"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hbuild/hbuild/engine"
	"github.com/hbuild/hbuild/sandbox"
)

func init() { addCommand(newRunCmd) }

func newRunCmd() *cobra.Command {
	var f engineFlags
	var network string
	cmd := &cobra.Command{
		Use:   "run IMAGE [-- COMMAND...]",
		Short: "Run a command from a built image in the sandbox",
		Long: `Run a command from an image in the sandbox, on a read-only copy of the
image's file system, with the image's environment and no network (unless
--network host). Without a command the image's entrypoint and cmd run.

IMAGE is an oci-image part of the profile (built first), or a location:
oci-layout:DIR[:tag], docker-archive:FILE, a registry reference.

Example:
  hbuild run -c examples/xml/hbuild.cfg xml -- xsltproc --version
  hbuild run oci-layout:out:xml -- xmllint --version`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var command []string
			if n := cmd.ArgsLenAtDash(); n >= 0 {
				command, args = args[n:], args[:n]
			}
			if len(args) != 1 {
				return usagef("run takes one image")
			}
			net, err := sandbox.ParseNetwork(network)
			if err != nil {
				return usagef("--network: %v", err)
			}
			if net == sandbox.NetLoopback {
				return usagef("--network: want none or host")
			}
			r, err := newRenderer(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ro := engine.RunOptions{Args: command, Network: net, Stdin: os.Stdin, Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr(),
				TTY: len(command) == 0 && term.IsTerminal(int(os.Stdin.Fd()))}
			ctx := cmd.Context()
			ref := args[0]
			if !strings.ContainsAny(ref, ":/") {
				e, pl, err := setup(ctx, &f, nil, r.Event)
				if err != nil {
					return err
				}
				p := pl.Part(ref)
				if p == nil || p.Build.Image == nil {
					return usagef("%s is neither an oci-image part of %s nor an image location", ref, pl.Path)
				}
				if _, err := e.Build(ctx, pl, p.Deps); err != nil {
					r.Finish(nil, err)
					return silentError{}
				}
				img, err := e.Image(ctx, pl, p)
				if err != nil {
					return err
				}
				_, err = e.RunLoaded(ctx, img, ro)
				return exitStatus(err)
			}
			dir, err := cacheDir()
			if err != nil {
				return err
			}
			e, err := engine.New(engine.Options{CacheDir: dir})
			if err != nil {
				return err
			}
			_, err = e.RunImage(ctx, ref, ro)
			return exitStatus(err)
		},
	}
	f.bind(cmd, false)
	cmd.Flags().StringVar(&network, "network", "none", "network: none or host")
	return cmd
}

// exitStatus turns a command's failure into hbuild's exit status 1 without
// repeating its output.
func exitStatus(err error) error {
	var ee *sandbox.ExitError
	if errors.As(err, &ee) {
		return silentError{}
	}
	return err
}
