package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hbuild/hbuild/image"
	"github.com/hbuild/hbuild/policy"
)

func init() { addCommand(newVerifyCmd) }

type verifyOptions struct {
	JSON           bool
	Brief          bool
	Mode           string   // auto, root, part
	Path           string   // run-time path of a part directory
	Deps           []string // DIR=PATH
	Runtime        string   // runtime base directory
	MaxGlibc       string
	AllowLibs      []string
	IgnorePaths    []string
	WarnOnly       bool
	AllowLibstdcxx bool
	AllowLibgcc    bool
}

func newVerifyCmd() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify DIR | IMAGE",
		Short: "Check that ELF files need only glibc and libraries of declared parts",
		Long: `verify reads every ELF executable and shared object of a directory or an
image (nothing is executed) and resolves each needed library the way the
dynamic loader would: RPATH, RUNPATH with $ORIGIN, then the base's glibc.
It lists, per file, the libraries it needs, where each was found and the
highest GLIBC_/GLIBCXX_ versions it needs, then the violations, one per
line with the fix. The exit status is 1 when there are violations (unless
--warn-only).

IMAGE is oci-layout:DIR[:tag], docker-archive:FILE[:ref], docker://REF,
REGISTRY/REPO[:tag] or containerd://SOCKET?name=REF; a directory that holds an
OCI layout is read as one. An image's layers are applied to a temporary
directory and checked as a whole file system: glibc from the image's system
library directories is the base, any other library found there is a host
library, and RPATH/RUNPATH may not point into those directories.

A plain directory is checked as a file system when it looks like one (it has
etc/ and usr/ or lib/; or --mode root), otherwise as one part seen at run
time at --path (default: the directory itself), with its dependencies given
as --dep DIR=PATH and glibc from --runtime DIR or, by default, the built-in
list of glibc libraries.`,
		Example: `  hbuild verify oci-layout:out/xml:latest
  hbuild verify --json docker-archive:image.tar
  hbuild verify --path /opt/hbuild/parts/lxml --dep cache/libxml2=/opt/hbuild/parts/libxml2 build/lxml
  hbuild verify --max-glibc 2.28 /opt/hbuild`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd, args[0], &o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	f.BoolVar(&o.Brief, "brief", false, "print only the violations and a summary, not every file's libraries")
	f.StringVar(&o.Mode, "mode", "auto", "how to check a directory: auto, root (a whole file system) or part")
	f.StringVar(&o.Path, "path", "", "run-time path of a part directory (default: the directory)")
	f.StringArrayVar(&o.Deps, "dep", nil, "a dependency part as DIR=PATH (repeatable)")
	f.StringVar(&o.Runtime, "runtime", "", "runtime base directory providing glibc (default: the built-in glibc list)")
	f.StringVar(&o.MaxGlibc, "max-glibc", "", "highest GLIBC_ symbol version allowed, e.g. 2.28")
	f.StringArrayVar(&o.AllowLibs, "allow-lib", nil, "library (soname or glob) allowed although no part provides it (repeatable)")
	f.StringArrayVar(&o.IgnorePaths, "ignore", nil, "glob of paths not to check, relative to the tree (repeatable)")
	f.BoolVar(&o.WarnOnly, "warn-only", false, "report violations but exit 0")
	f.BoolVar(&o.AllowLibstdcxx, "allow-libstdcxx", true, "allow libstdc++.so.6 from the base")
	f.BoolVar(&o.AllowLibgcc, "allow-libgcc", true, "allow libgcc_s.so.1 from the base")
	return cmd
}

func runVerify(cmd *cobra.Command, target string, o *verifyOptions) error {
	opts := policy.Options{
		AllowLibs: o.AllowLibs, IgnorePaths: o.IgnorePaths, MaxGlibc: o.MaxGlibc, WarnOnly: o.WarnOnly,
		AllowLibstdcxx: o.AllowLibstdcxx, AllowLibgcc: o.AllowLibgcc,
	}
	switch o.Mode {
	case "auto", "root", "part":
	default:
		return usagef("--mode %q: want auto, root or part", o.Mode)
	}
	var r *policy.Report
	var err error
	if fi, serr := os.Stat(target); serr == nil && fi.IsDir() && !isOCILayout(target) {
		r, err = verifyDir(target, o, opts)
	} else {
		if serr == nil && isOCILayout(target) {
			target = "oci-layout:" + target
		}
		r, err = verifyImage(cmd, target, opts)
	}
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	switch {
	case o.JSON:
		err = r.JSON(out)
	case o.Brief:
		err = r.Summary(out)
	default:
		err = r.Text(out)
	}
	if err != nil {
		return err
	}
	if !r.OK() {
		return silentError{}
	}
	return nil
}

// isOCILayout reports whether dir holds an OCI image layout.
func isOCILayout(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "oci-layout"))
	return err == nil
}

// looksLikeRoot reports whether dir is a whole file system.
func looksLikeRoot(dir string) bool {
	isDir := func(name string) bool {
		fi, err := os.Stat(filepath.Join(dir, name))
		return err == nil && fi.IsDir()
	}
	return isDir("etc") && (isDir("usr") || isDir("lib"))
}

func verifyDir(dir string, o *verifyOptions, opts policy.Options) (*policy.Report, error) {
	if o.Mode == "root" || o.Mode == "auto" && looksLikeRoot(dir) {
		if o.Path != "" || len(o.Deps) > 0 || o.Runtime != "" {
			return nil, usagef("--path, --dep and --runtime apply to a part, not to a whole file system (use --mode part)")
		}
		r, err := policy.CheckRoot(dir, opts)
		if err == nil {
			r.Root = dir
		}
		return r, err
	}
	part := policy.Tree{Dir: dir, Path: o.Path}
	var deps []policy.Tree
	for _, d := range o.Deps {
		ddir, dpath, ok := strings.Cut(d, "=")
		if !ok || ddir == "" || !strings.HasPrefix(dpath, "/") {
			return nil, usagef("--dep %q: want DIR=PATH with an absolute run-time PATH", d)
		}
		deps = append(deps, policy.Tree{Dir: ddir, Path: dpath})
	}
	if o.Path != "" && !strings.HasPrefix(o.Path, "/") {
		return nil, usagef("--path %q: want an absolute run-time path", o.Path)
	}
	return policy.CheckPart(part, deps, policy.Tree{Dir: o.Runtime}, opts)
}

func verifyImage(cmd *cobra.Command, ref string, opts policy.Options) (*policy.Report, error) {
	if _, err := image.ParseLocation(ref); err != nil {
		return nil, usagef("%s is neither a directory nor an image: %v", ref, err)
	}
	img, err := image.Load(cmd.Context(), ref)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "hbuild-verify-")
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", ref, err)
	}
	defer removeTree(tmp)
	root := filepath.Join(tmp, "rootfs")
	fmt.Fprintf(cmd.ErrOrStderr(), "verify: extracting %s\n", ref)
	if err := image.Extract(img, root); err != nil {
		return nil, fmt.Errorf("verify %s: %w", ref, err)
	}
	r, err := policy.CheckRoot(root, opts)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", ref, err)
	}
	r.Root = ref
	return r, nil
}

// removeTree removes an extracted image, making read-only directories
// writable first so that an unprivileged user can remove them.
func removeTree(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}
