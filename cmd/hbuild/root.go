package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"
)

// globalOptions are the flags every command takes.
type globalOptions struct {
	Profile            string   // -c: the profile; default hbuild.cfg, then buildout.cfg
	CacheDir           string   // --cache-dir: all of hbuild's state
	Progress           string   // --progress: auto, tty, plain or json
	Verbose            bool     // -v: stream logs
	IgnoreUserDefaults bool     // -U: do not read ~/.buildout/default.cfg
	Overrides          []string // section:option=value, also given as trailing args
	Merge              string   // --merge: nested or flattened ("" = the profile's hbuild-merge, else nested)
}

var global globalOptions

// commands are added by each subcommand file's init.
var commands []func() *cobra.Command

func addCommand(f func() *cobra.Command) { commands = append(commands, f) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "hbuild",
		Short: "Hermetic builds of buildout profiles into OCI images",
		Long: `hbuild reads buildout profiles (the INI language of zc.buildout as SlapOS
uses it), builds every part inside a container that holds only glibc and a
compiler toolchain, verifies that every ELF file needs only glibc and
libraries from declared parts, and turns each part into one OCI layer.

The same profile gives the same digests on any machine.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&global.Profile, "config", "c", "", "profile to read (default: hbuild.cfg, then buildout.cfg)")
	pf.StringVar(&global.CacheDir, "cache-dir", "", "directory for all hbuild state (default: $XDG_CACHE_HOME/hbuild)")
	pf.StringVar(&global.Progress, "progress", "auto", "progress output: auto, tty, plain or json")
	pf.BoolVarP(&global.Verbose, "verbose", "v", false, "stream build logs to stderr")
	pf.BoolVarP(&global.IgnoreUserDefaults, "ignore-user-defaults", "U", false, "do not read the user defaults file (~/.buildout/default.cfg)")
	pf.StringArrayVarP(&global.Overrides, "set", "o", nil, "override an option: section:option=value (repeatable)")
	pf.StringVar(&global.Merge, "merge", "", "how extends are merged: nested (zc.buildout 2.13/3.0, default) or flattened (zc.buildout 3.1+); default: the root profile's [buildout] hbuild-merge, else nested")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })

	fs := make([]*cobra.Command, 0, len(commands))
	for _, f := range commands {
		fs = append(fs, f())
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Name() < fs[j].Name() })
	root.AddCommand(fs...)
	return root
}

// usageError marks an error as a usage error (exit status 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error.
func usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

// silentError is a failure already reported to the user (exit 1, no message).
type silentError struct{}

func (silentError) Error() string { return "failed" }

// exactArgs and minArgs are cobra argument checks that report
// usage errors.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("%s needs at least %d argument(s)", cmd.CommandPath(), n)
		}
		return nil
	}
}

// profilePath returns the profile named by -c, or hbuild.cfg, or
// buildout.cfg in the current directory.
func profilePath() (string, error) {
	if global.Profile != "" {
		return global.Profile, nil
	}
	for _, name := range []string{"hbuild.cfg", "buildout.cfg"} {
		if _, err := os.Stat(name); err == nil {
			return name, nil
		}
	}
	return "", errors.New("no profile: neither hbuild.cfg nor buildout.cfg is in the current directory (use -c PROFILE)")
}

// cacheDir returns the cache directory: --cache-dir, or
// $XDG_CACHE_HOME/hbuild, or ~/.cache/hbuild.
func cacheDir() (string, error) {
	if global.CacheDir != "" {
		return filepath.Abs(global.CacheDir)
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "hbuild"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find cache directory: %w (use --cache-dir)", err)
	}
	return filepath.Join(home, ".cache", "hbuild"), nil
}

// mergeMode is profile.LoadOptions.Merge as --merge sets it.
func mergeMode() string { return global.Merge }
