package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

func init() { addCommand(newPlanCmd) }

func newPlanCmd() *cobra.Command {
	var f engineFlags
	var asJSON, dot bool
	var explain string
	cmd := &cobra.Command{
		Use:   "plan [PART...] [section:option=value...]",
		Short: "Show the parts a build would make, in order, with their keys",
		Long: `Plan the profile without building: list the parts in dependency order with
their recipe, location, key and whether the cache already has them. --json
prints the plan as JSON, --dot as a Graphviz graph of the dependencies, and
--explain PART says why PART is not cached.

Example:
  hbuild plan -c examples/xml/hbuild.cfg
  hbuild plan --dot | dot -Tsvg > plan.svg
  hbuild plan --explain libxslt`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON && dot {
				return usagef("--json and --dot exclude each other")
			}
			overrides, names := splitArgs(args)
			e, pl, err := setup(cmd.Context(), &f, overrides, nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if explain != "" {
				why, err := e.Explain(pl, explain)
				if err != nil {
					return err
				}
				for _, w := range why {
					fmt.Fprintln(out, w)
				}
				return nil
			}
			parts := pl.Parts
			if len(names) > 0 {
				if parts, err = pl.Closure(names); err != nil {
					return err
				}
			}
			type jsonPart struct {
				Name     string            `json:"name"`
				Recipe   string            `json:"recipe"`
				Location string            `json:"location"`
				Key      string            `json:"key"`
				Cached   bool              `json:"cached"`
				Deps     []string          `json:"deps"`
				Options  map[string]string `json:"options"`
			}
			var js []jsonPart
			if dot {
				fmt.Fprintln(out, "digraph hbuild {\n  rankdir=LR;\n  node [shape=box];")
			}
			for _, p := range parts {
				cached := e.Cached(p) != nil
				switch {
				case asJSON:
					js = append(js, jsonPart{p.Name, p.RecipeName, p.Location, p.Key, cached, p.Deps, p.Options})
				case dot:
					style := ""
					if cached {
						style = ", style=filled, fillcolor=lightgrey"
					}
					fmt.Fprintf(out, "  %q [label=%q%s];\n", p.Name, p.Name+"\n"+p.Key[:12], style)
					for _, d := range p.Deps {
						fmt.Fprintf(out, "  %q -> %q;\n", d, p.Name)
					}
				default:
					state := "to build"
					if cached {
						state = "cached"
					}
					if p.Build.Image != nil {
						state = "image"
					}
					fmt.Fprintf(out, "%-20s %-12s %s %-8s %s\n", p.Name, p.Recipe.Name, p.Key[:16], state, p.Location)
				}
			}
			if dot {
				fmt.Fprintln(out, "}")
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"profile": pl.Path, "directory": pl.Directory, "platform": pl.Platform, "base": pl.BaseDigest, "parts": js})
			}
			return nil
		},
	}
	f.bind(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	cmd.Flags().BoolVar(&dot, "dot", false, "print the dependency graph in Graphviz dot")
	cmd.Flags().StringVar(&explain, "explain", "", "say why PART is not cached")
	return cmd
}
