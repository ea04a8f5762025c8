package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hbuild/hbuild/rootfs"
	"github.com/hbuild/hbuild/source/debian"
)

func init() { addCommand(newRootfsCmd) }

// rootfsOptions are the flags of the rootfs subcommands.
type rootfsOptions struct {
	Lock    string
	Mirror  string
	Suites  []string
	Keyring string
	Offline bool
}

func (o *rootfsOptions) flags(cmd *cobra.Command, lockHelp string) {
	f := cmd.Flags()
	f.StringVar(&o.Lock, "lock", "", lockHelp)
	f.StringVar(&o.Mirror, "mirror", "", "Debian archive root URL (default: the section's mirror, else the host's apt sources)")
	f.StringSliceVar(&o.Suites, "suite", nil, "suites to resolve against (default: the section's, else the host's first deb source)")
	f.StringVar(&o.Keyring, "keyring", "", "OpenPGP keyring that signs the archive (default: "+debian.DefaultKeyring+")")
}

func newRootfsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rootfs",
		Short: "Lock, build and inspect base file systems made of Debian packages",
		Long: `A base file system is a set of Debian packages resolved against a signed
archive into a lock file, then unpacked without dpkg or maintainer scripts.
Bases are profile sections with recipe = debian-rootfs; "toolchain" (the
build base) and "glibc" (the runtime base of images) are built in and need
no profile.

Example:
  hbuild rootfs lock toolchain        # resolve and write toolchain.lock
  hbuild rootfs build toolchain       # digest and tree of the base
  hbuild rootfs show toolchain.lock   # the packages of a lock`,
	}
	cmd.AddCommand(newRootfsLockCmd(), newRootfsBuildCmd(), newRootfsShowCmd())
	return cmd
}

// rootfsSpec finds the base named SECTION: a debian-rootfs section of the
// profile, or a built-in base.
func rootfsSpec(section string, o *rootfsOptions, opts rootfs.Options) (*rootfs.Spec, error) {
	var spec *rootfs.Spec
	if path, err := profilePath(); err == nil {
		p, err := profileFromArgs(nil)
		if err != nil {
			return nil, err
		}
		if p.Has(section) {
			vals, err := p.Resolve(section)
			if err != nil {
				return nil, err
			}
			if r := vals["recipe"]; r != "debian-rootfs" {
				return nil, fmt.Errorf("%s: [%s] has recipe = %q; a base needs recipe = debian-rootfs", path, section, r)
			}
			if spec, err = rootfs.SpecFromOptions(section, vals, filepath.Dir(path)); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
	} else if global.Profile != "" {
		return nil, err
	}
	if spec == nil {
		b, ok := rootfs.Builtin(section, opts)
		if !ok {
			return nil, usagef("no base %q: not a section of the profile, and the built-in bases are toolchain and glibc", section)
		}
		spec = b
	}
	if o.Lock != "" {
		abs, err := filepath.Abs(o.Lock)
		if err != nil {
			return nil, err
		}
		spec.Lock = abs
	}
	if o.Mirror != "" {
		spec.Mirror = o.Mirror
	}
	if len(o.Suites) > 0 {
		spec.Suites = o.Suites
	}
	if o.Keyring != "" {
		spec.Keyring = o.Keyring
	}
	return spec, nil
}

func rootfsLibOptions(cmd *cobra.Command, offline bool) (rootfs.Options, error) {
	dir, err := cacheDir()
	if err != nil {
		return rootfs.Options{}, err
	}
	errw := cmd.ErrOrStderr()
	return rootfs.Options{
		CacheDir: dir,
		Offline:  offline,
		Events:   func(msg string) { fmt.Fprintln(errw, msg) },
	}, nil
}

func newRootfsLockCmd() *cobra.Command {
	var o rootfsOptions
	cmd := &cobra.Command{
		Use:   "lock SECTION...",
		Short: "Resolve a base's packages and write its lock file",
		Long: `lock resolves the packages of each base (a debian-rootfs section of the
profile, or the built-in toolchain and glibc) against the archive, verifying
InRelease's signature and the indices' checksums, and writes the lock file:
the section's lock option, else SECTION.lock next to the profile (built-in
bases: in the cache), or --lock. An existing lock is replaced: this is how a
base picks up security updates.

Example:
  hbuild -c bases.cfg rootfs lock toolchain glibc
  hbuild rootfs lock toolchain --lock ./toolchain.lock`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Lock != "" && len(args) > 1 {
				return usagef("--lock names one file: give one SECTION")
			}
			opts, err := rootfsLibOptions(cmd, false)
			if err != nil {
				return err
			}
			for _, section := range args {
				spec, err := rootfsSpec(section, &o, opts)
				if err != nil {
					return err
				}
				l, err := rootfs.Lock(cmd.Context(), spec.Packages, spec.Lock, spec.Options(opts))
				if err != nil {
					return fmt.Errorf("lock %s: %w", section, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%d packages\t%s\n", section, len(l.Packages), spec.Lock)
			}
			return nil
		},
	}
	o.flags(cmd, "write the lock here (default: the section's lock option, else SECTION.lock next to the profile)")
	return cmd
}

func newRootfsBuildCmd() *cobra.Command {
	var o rootfsOptions
	cmd := &cobra.Command{
		Use:   "build SECTION|IMAGE",
		Short: "Build a base and print its digest and tree",
		Long: `build makes the base (locking it first if it has no lock yet), or reuses it
from the cache, and prints its layer digest and the path of its unpacked
tree. With a lock present, nothing is resolved and the .deb files come from
the download cache when they are there (--offline: only from there).

SECTION may also be an OCI image: oci-layout:DIR[:TAG|@DIGEST],
docker-archive:FILE or docker://REF.

Example:
  hbuild rootfs build toolchain
  hbuild rootfs build --offline glibc
  hbuild rootfs build oci-layout:./base:latest`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := rootfsLibOptions(cmd, o.Offline)
			if err != nil {
				return err
			}
			var b *rootfs.Base
			if ref := args[0]; strings.HasPrefix(ref, "oci-layout:") || strings.HasPrefix(ref, "docker-archive:") || strings.HasPrefix(ref, "docker://") {
				b, err = rootfs.FromImage(cmd.Context(), ref, opts)
			} else {
				var spec *rootfs.Spec
				if spec, err = rootfsSpec(args[0], &o, opts); err != nil {
					return err
				}
				b, err = spec.Build(cmd.Context(), opts)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", b.Digest, b.Dir)
			return nil
		},
	}
	o.flags(cmd, "lock file to build from (default: the section's)")
	cmd.Flags().BoolVar(&o.Offline, "offline", false, "use only the lock file and the download cache")
	return cmd
}

func newRootfsShowCmd() *cobra.Command {
	var o rootfsOptions
	cmd := &cobra.Command{
		Use:   "show LOCKFILE|SECTION",
		Short: "List the packages of a lock",
		Long: `show prints the packages a lock file pins, one a line: name, version,
architecture, size and SHA-256. The argument is a lock file or a base
(whose lock file is then read; it is not created).

Example:
  hbuild rootfs show toolchain.lock
  hbuild rootfs show glibc`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if _, err := os.Stat(path); err != nil {
				opts, err := rootfsLibOptions(cmd, true)
				if err != nil {
					return err
				}
				spec, err := rootfsSpec(args[0], &o, opts)
				if err != nil {
					return err
				}
				path = spec.Lock
			}
			l, err := debian.ReadLock(path)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w (run `hbuild rootfs lock %s` first)", err, args[0])
			}
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			var total int64
			for _, p := range l.Packages {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", p.Name, p.Version, p.Arch, p.Size, p.SHA256)
				total += p.Size
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d packages, %d bytes, suites %s, lock digest %s\n", len(l.Packages), total, strings.Join(l.Suites, " "), l.Digest())
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Lock, "lock", "", "lock file (same as giving it as the argument)")
	return cmd
}
