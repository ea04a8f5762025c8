package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hbuild/hbuild/cache"
	"github.com/hbuild/hbuild/engine"
)

func init() { addCommand(newCacheCmd) }

func openStore() (*cache.Store, error) {
	dir, err := cacheDir()
	if err != nil {
		return nil, err
	}
	return cache.Open(dir)
}

func newCacheCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "List, inspect and clean the local part cache",
		Long: `The cache directory (--cache-dir, default $XDG_CACHE_HOME/hbuild) holds the
downloads, the bases, and each built part under parts/<key>.

Example:
  hbuild cache ls
  hbuild cache inspect libxml2
  hbuild cache gc --older-than 720h
  hbuild cache prune zlib`,
		Args: exactArgs(0),
	}
	var remoteRef string
	var insecure bool
	cmd.PersistentFlags().StringVar(&remoteRef, "remote", "", "work on the shared cache in registry repository REGISTRY/REPO instead of the local one")
	cmd.PersistentFlags().BoolVar(&insecure, "insecure-registry", false, "talk plain HTTP to the registry (loopback only)")
	openRemote := func() (*cache.Remote, error) {
		return cache.RemoteSettings{Ref: remoteRef, Insecure: insecure}.Open()
	}
	remoteGC := func(cmd *cobra.Command, opts cache.RemoteGCOptions) error {
		r, err := openRemote()
		if err != nil {
			return err
		}
		rep, ws, err := r.RemoteGC(cmd.Context(), opts)
		for _, w := range ws {
			fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w.Error())
		}
		if err != nil {
			return err
		}
		verb := "removed"
		if opts.DryRun {
			verb = "would remove"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %d entr(ies) from %s, %s of blobs (the registry's garbage-collect frees them)\n", verb, len(rep.Entries), r.Ref(), size(rep.Bytes))
		return nil
	}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the cached parts",
		Long:  "List every cached part: key, part name, recipe, size, build time.\n\nExample:\n  hbuild cache ls",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if remoteRef != "" {
				r, err := openRemote()
				if err != nil {
					return err
				}
				ents, ws, err := r.ListEntries(cmd.Context())
				for _, w := range ws {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w.Error())
				}
				if err != nil {
					return err
				}
				for _, e := range ents {
					fmt.Fprintf(cmd.OutOrStdout(), "%s  %-20s %8s  %s %s\n", e.Key[:16], e.Part, size(e.Size()), e.Created.Format(time.RFC3339), e.Signer)
				}
				return nil
			}
			s, err := openStore()
			if err != nil {
				return err
			}
			ents, err := s.List()
			if err != nil {
				return err
			}
			for _, e := range ents {
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %-20s %-18s %8s  %s\n", e.Key[:16], e.Meta.Part, e.Meta.Recipe, size(e.Size()), e.Meta.Built.Format(time.RFC3339))
			}
			return nil
		},
	}
	inspect := &cobra.Command{
		Use:   "inspect KEY|PART",
		Short: "Print the metadata of a cached part",
		Long:  "Print meta.json of a cached part, given its key (or a unique prefix) or its part name (the last build of that name).\n\nExample:\n  hbuild cache inspect zlib",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			ents, err := s.List()
			if err != nil {
				return err
			}
			var found []*cache.Meta
			for _, e := range ents {
				if strings.HasPrefix(e.Key, args[0]) && len(args[0]) >= 4 {
					found = append(found, e.Meta)
				}
			}
			if len(found) == 0 {
				m, err := s.Last(args[0])
				if err != nil {
					return err
				}
				if m != nil {
					found = append(found, m)
				}
			}
			switch len(found) {
			case 0:
				return fmt.Errorf("no cached part has key or name %q (see hbuild cache ls)", args[0])
			case 1:
			default:
				return fmt.Errorf("%q matches %d keys: give more of the key", args[0], len(found))
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(found[0])
		},
	}
	var olderThan time.Duration
	var dry bool
	gc := &cobra.Command{
		Use:   "gc",
		Short: "Remove leftovers of interrupted builds and parts unused for long",
		Long:  "Remove the temporary directories interrupted builds left, and with --older-than the parts not used for that long.\n\nExample:\n  hbuild cache gc --older-than 720h",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if remoteRef != "" {
				// Entries not used by the profile (-c): its plan's keys.
				var f engineFlags
				f.Directory = engine.DefaultDirectory
				_, pl, err := setup(cmd.Context(), &f, nil, nil)
				if err != nil {
					return err
				}
				keep := map[string]bool{}
				for _, p := range pl.Parts {
					keep[p.Key] = true
				}
				return remoteGC(cmd, cache.RemoteGCOptions{Keep: keep, OlderThan: olderThan, DryRun: dry})
			}
			s, err := openStore()
			if err != nil {
				return err
			}
			r, err := s.GC(cache.GCOptions{OlderThan: olderThan, DryRun: dry})
			if err != nil {
				return err
			}
			verb := "removed"
			if dry {
				verb = "would remove"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %d part(s), %d temporary dir(s), %s\n", verb, len(r.Entries), len(r.Temp), size(r.Bytes))
			return nil
		},
	}
	gc.Flags().DurationVar(&olderThan, "older-than", 0, "also remove parts not used for this long (e.g. 720h)")
	gc.Flags().BoolVar(&dry, "dry-run", false, "only say what would be removed")
	var pruneOlder time.Duration
	var pruneMax int64
	var pruneDry bool
	prune := &cobra.Command{
		Use:   "prune [PART...]",
		Short: "Remove cached parts (all, or those of the named parts)",
		Long:  "Remove the cached builds of the named parts, or of every part. Downloads and bases stay.\n\nExample:\n  hbuild cache prune libxml2",
		RunE: func(cmd *cobra.Command, args []string) error {
			if remoteRef != "" {
				return remoteGC(cmd, cache.RemoteGCOptions{Parts: args, All: len(args) == 0 && pruneOlder == 0 && pruneMax == 0, OlderThan: pruneOlder, MaxBytes: pruneMax, DryRun: pruneDry})
			}
			s, err := openStore()
			if err != nil {
				return err
			}
			r, err := s.Prune(args)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d part(s), %s\n", len(r.Entries), size(r.Bytes))
			return nil
		},
	}
	prune.Flags().DurationVar(&pruneOlder, "older-than", 0, "with --remote: remove entries pushed longer ago than this")
	prune.Flags().Int64Var(&pruneMax, "max-bytes", 0, "with --remote: remove the oldest entries until the rest take at most this many bytes")
	prune.Flags().BoolVar(&pruneDry, "dry-run", false, "with --remote: only say what would be removed")
	cmd.AddCommand(ls, inspect, gc, prune)
	return cmd
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
