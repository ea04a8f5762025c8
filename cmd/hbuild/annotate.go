package main

import (
	"strings"

	"github.com/spf13/cobra"
)

func init() { addCommand(newAnnotateCmd) }

func newAnnotateCmd() *cobra.Command {
	var asJSON, history, strict bool
	cmd := &cobra.Command{
		Use:   "annotate [SECTION...] [section:option=value...]",
		Short: "Show the merged profile and where every value came from",
		Long: `annotate prints the profile as zc.buildout's "buildout annotate" does: every
section (or only the named ones) with its options sorted, each value as
merged from the profile, the files it extends, the user defaults file, the
built-in defaults and the overrides (before macro expansion and
substitution), followed by its origin: the file, or DEFAULT_VALUE,
COMPUTED_VALUE, COMMAND_LINE_VALUE; "+=" and "-=" lines show the files that
added or removed lines.

--history prints every step of each value, newest first (buildout -v
annotate). --json prints {"section": {"option": {"value", "origins"}}} with
file, line, kind and operation of every step.

Warnings (-= on an option that does not exist, an operator left as a raw
"x +" option, optional-extends skipped) go to stderr as
"file:line: warning: ..."; --strict makes the first two errors. --merge
flattened merges extends as zc.buildout 3.1+ does (see hbuild --help).

Example:
  hbuild -c buildout.cfg annotate
  hbuild annotate zlib buildout --history
  hbuild annotate --json buildout:directory=/opt/hbuild | jq .zlib.url`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var sections, overrides []string
			for _, a := range args {
				if strings.Contains(a, "=") {
					overrides = append(overrides, a)
				} else {
					sections = append(sections, a)
				}
			}
			p, err := loadProfileStrict(overrides, strict)
			if err != nil {
				return err
			}
			printWarnings(cmd.ErrOrStderr(), p)
			if asJSON {
				return p.AnnotateJSON(cmd.OutOrStdout(), sections)
			}
			return p.Annotate(cmd.OutOrStdout(), sections, history)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: raw values and every origin")
	cmd.Flags().BoolVar(&history, "history", false, "print every step of each value's history")
	cmd.Flags().BoolVar(&strict, "strict", false, "reject what zc.buildout silently accepts (-= on a missing option, unresolved +=/-=)")
	return cmd
}
