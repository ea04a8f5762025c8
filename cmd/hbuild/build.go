package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hbuild/hbuild/cache"
	"github.com/hbuild/hbuild/engine"
	"github.com/hbuild/hbuild/profile"
)

func init() { addCommand(newBuildCmd) }

// engineFlags are the flags of the commands that plan or build.
type engineFlags struct {
	Jobs          int
	KeepGoing     bool
	KeepFailed    bool
	Offline       bool
	AllowUnpinned bool
	Outputs       []string
	Directory     string
	Platform      string
	LockDir       string

	Cache              string // --cache REGISTRY/REPO
	CacheMode          string // --cache-mode
	InsecureRegistry   bool   // --insecure-registry
	CacheRequireSigned bool   // --cache-require-signed
}

func (f *engineFlags) bind(cmd *cobra.Command, build bool) {
	fs := cmd.Flags()
	fs.StringVar(&f.Directory, "directory", engine.DefaultDirectory, "${buildout:directory} inside the sandbox and the images")
	fs.StringVar(&f.Platform, "platform", "", "target platform (default: linux/<host arch>)")
	fs.StringVar(&f.LockDir, "lock-dir", "", "directory of the bases' lock files toolchain.lock and glibc.lock (default: the profile's directory)")
	fs.BoolVar(&f.Offline, "offline", false, "use only the download cache and find-links")
	fs.BoolVar(&f.AllowUnpinned, "allow-unpinned", false, "fetch sources that have no checksum (and print the checksum to pin)")
	if build {
		fs.StringVar(&f.Cache, "cache", "", "shared part cache in a registry, REGISTRY/REPO (default: [buildout] hbuild-cache)")
		fs.StringVar(&f.CacheMode, "cache-mode", "readwrite", "use the shared cache to read (pull hits), write (push what is built) or readwrite")
		fs.BoolVar(&f.InsecureRegistry, "insecure-registry", false, "talk plain HTTP to the shared cache (loopback registries only)")
		fs.BoolVar(&f.CacheRequireSigned, "cache-require-signed", false, "use only shared cache entries signed by the key of [buildout] hbuild-cache-key")
		fs.IntVarP(&f.Jobs, "jobs", "j", 0, "parallel jobs, shared by parts and their make -j (default: number of CPUs)")
		fs.BoolVar(&f.KeepGoing, "keep-going", false, "after a failure, build the parts that do not depend on it")
		fs.BoolVar(&f.KeepFailed, "keep-failed", false, "keep a failed part's sandbox tree for `hbuild shell PART`")
		fs.StringArrayVar(&f.Outputs, "output", nil, "write every image to this destination instead of its output option (repeatable)")
	}
}

// splitArgs separates section:option=value overrides from part names.
func splitArgs(args []string) (overrides, parts []string) {
	for _, a := range args {
		if i := strings.IndexByte(a, '='); i > 0 && strings.Contains(a[:i], ":") {
			overrides = append(overrides, a)
		} else {
			parts = append(parts, a)
		}
	}
	return
}

// setup opens the engine and plans the profile.
func setup(ctx context.Context, f *engineFlags, overrides []string, events func(engine.Event)) (*engine.Engine, *engine.Plan, error) {
	prof, err := profilePath()
	if err != nil {
		return nil, nil, err
	}
	dir, err := cacheDir()
	if err != nil {
		return nil, nil, err
	}
	lockDir := f.LockDir
	if lockDir == "" {
		lockDir = filepath.Dir(prof)
	}
	e, err := engine.New(engine.Options{
		CacheDir: dir, LockDir: lockDir, Jobs: f.Jobs, KeepGoing: f.KeepGoing, KeepFailed: f.KeepFailed,
		Offline: f.Offline, AllowUnpinned: f.AllowUnpinned, Outputs: f.Outputs, Events: events,
	})
	if err != nil {
		return nil, nil, err
	}
	pl, err := e.Plan(ctx, prof, engine.PlanOptions{
		Directory: f.Directory, Platform: f.Platform,
		Load: profile.LoadOptions{
			Overrides: append(append([]string(nil), global.Overrides...), overrides...), IgnoreUserDefaults: global.IgnoreUserDefaults,
			CacheDir: dir + "/extends", Offline: f.Offline, Merge: mergeMode(),
		},
	})
	if err != nil {
		return nil, nil, err
	}
	if e.Remote, err = remoteCache(f, pl, prof); err != nil {
		return nil, nil, err
	}
	return e, pl, nil
}

// remoteCache opens the shared cache that the flags or [buildout]
// hbuild-cache and hbuild-cache-key name; nil when there is none.
func remoteCache(f *engineFlags, pl *engine.Plan, prof string) (*cache.Remote, error) {
	// Pulled parts keep their layers; their trees are unpacked only when a
	// build needs them as dependencies (the engine calls EnsureTree).
	s := cache.RemoteSettings{Ref: f.Cache, Mode: f.CacheMode, Insecure: f.InsecureRegistry, RequireSigned: f.CacheRequireSigned, DeferTrees: true}
	opt := func(name string) (string, error) {
		if _, ok := pl.Profile.Raw("buildout", name); !ok {
			return "", nil
		}
		v, err := pl.Profile.Get("buildout", name)
		return strings.TrimSpace(v), err
	}
	if s.Ref == "" {
		v, err := opt("hbuild-cache")
		if err != nil {
			return nil, err
		}
		s.Ref = v
	}
	key, err := opt("hbuild-cache-key")
	if err != nil {
		return nil, err
	}
	if key != "" && !filepath.IsAbs(key) {
		key = filepath.Join(filepath.Dir(prof), key)
	}
	s.KeyFile = key
	return s.Open()
}

func newBuildCmd() *cobra.Command {
	var f engineFlags
	var explain string
	cmd := &cobra.Command{
		Use:   "build [PART...] [section:option=value...]",
		Short: "Build the parts of a profile and write its images",
		Long: `Build every part of the profile (or the named parts and what they need):
each part whose key is not in the cache is built in the sandbox on the
toolchain base, checked by the ELF policy, turned into an OCI layer and
stored; oci-image parts are then assembled and written to their outputs.

A part that did not change is never built twice: a second build of the same
profile builds nothing. --explain PART says why a part is not cached.

Example:
  hbuild build -c examples/xml/hbuild.cfg
  hbuild build -j4 --keep-going libxslt
  hbuild build --output oci-layout:out:xml
  hbuild build --explain libxml2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			overrides, parts := splitArgs(args)
			r, err := newRenderer(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			e, pl, err := setup(ctx, &f, overrides, r.Event)
			if err != nil {
				return err
			}
			if explain != "" {
				why, err := e.Explain(pl, explain)
				if err != nil {
					return err
				}
				for _, w := range why {
					fmt.Fprintln(cmd.OutOrStdout(), w)
				}
				return nil
			}
			stop := make(chan struct{})
			go func() {
				t := time.NewTicker(time.Second)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case <-t.C:
						r.Tick()
					}
				}
			}()
			res, err := e.Build(ctx, pl, parts)
			close(stop)
			r.Finish(res, err)
			if err != nil {
				return silentError{}
			}
			for _, im := range res.Images {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", im.Part, im.Digest)
			}
			return nil
		},
	}
	f.bind(cmd, true)
	cmd.Flags().StringVar(&explain, "explain", "", "say why PART is not cached (which option, source or dependency changed) and build nothing")
	return cmd
}
