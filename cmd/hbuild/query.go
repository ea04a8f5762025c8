package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hbuild/hbuild/profile"
	"github.com/hbuild/hbuild/recipes"
	"github.com/spf13/cobra"
)

func init() { addCommand(newQueryCmd) }

func newQueryCmd() *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:   "query [SECTION:]OPTION [section:option=value...]",
		Short: "Print the fully substituted value of an option",
		Long: `query loads the profile (with its extends, the user defaults file and the
overrides) and prints the value of one option after macro expansion and
${section:option} substitution. Without a section, the option is looked up
in [buildout]. Trailing section:option=value arguments override options,
like -o. Warnings about the profile go to stderr as
"file:line: warning: ...".

Example:
  hbuild -c buildout.cfg query zlib:url
  hbuild query buildout:parts-directory buildout:directory=/opt/hbuild
  hbuild --merge flattened query buildout:parts`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var target string
			var overrides []string
			for _, a := range args {
				if strings.Contains(a, "=") {
					overrides = append(overrides, a)
					continue
				}
				if target != "" {
					return usagef("query takes one SECTION:OPTION, got %q and %q", target, a)
				}
				target = a
			}
			if target == "" {
				return usagef("query needs a SECTION:OPTION")
			}
			section, option := "buildout", target
			if s, o, ok := strings.Cut(target, ":"); ok {
				if strings.Contains(o, ":") || s == "" || o == "" {
					return usagef("query: invalid option %q; write SECTION:OPTION", target)
				}
				section, option = s, o
			}
			p, err := loadProfileStrict(overrides, strict)
			if err != nil {
				return err
			}
			printWarnings(cmd.ErrOrStderr(), p)
			v, err := p.Get(section, option)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), v)
			return err
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "reject what zc.buildout silently accepts (-= on a missing option, unresolved +=/-=)")
	return cmd
}

// printWarnings prints the profile's warnings as "file:line: warning: ...",
// then a note for every option a section sets that its recipe ignores.
func printWarnings(w io.Writer, p *profile.Profile) {
	for _, x := range p.Warnings() {
		fmt.Fprintln(w, x.String())
	}
	for _, s := range p.SectionNames() {
		ignored := recipes.BuildoutIgnored
		if s != "buildout" {
			rv, ok := p.Raw(s, "recipe")
			if !ok {
				continue
			}
			r, err := recipes.Lookup(strings.TrimSpace(rv.Raw))
			if err != nil || len(r.Ignored) == 0 {
				continue
			}
			ignored = r.Ignored
		}
		opts := make([]string, 0, len(ignored))
		for o := range ignored {
			opts = append(opts, o)
		}
		sort.Strings(opts)
		for _, o := range opts {
			v, ok := p.Raw(s, o)
			if !ok {
				continue
			}
			where := "profile"
			if n := len(v.Origins); n > 0 {
				o := v.Origins[n-1]
				where = o.Source()
				if o.File != "" && o.Line > 0 {
					where = fmt.Sprintf("%s:%d", o.File, o.Line)
				}
			}
			fmt.Fprintf(w, "%s: note: %s:%s: %s\n", where, s, o, ignored[o])
		}
	}
}

// profileFromArgs loads the profile named by the global flags, with the
// global overrides plus extra ones (trailing section:option=value args).
func profileFromArgs(extra []string) (*profile.Profile, error) {
	return loadProfileStrict(extra, false)
}

// loadProfileStrict is profileFromArgs with profile.LoadOptions.Strict.
func loadProfileStrict(extra []string, strict bool) (*profile.Profile, error) {
	path, err := profilePath()
	if err != nil {
		return nil, usagef("%v", err)
	}
	opts := profile.LoadOptions{
		Overrides:          append(append([]string(nil), global.Overrides...), extra...),
		IgnoreUserDefaults: global.IgnoreUserDefaults,
		Strict:             strict,
		Merge:              mergeMode(),
	}
	if dir, err := cacheDir(); err == nil {
		opts.CacheDir = filepath.Join(dir, "extends")
	}
	return profile.Load(path, opts)
}
