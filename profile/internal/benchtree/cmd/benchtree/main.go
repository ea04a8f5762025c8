// Command benchtree writes the synthetic profile tree of the profile
// benchmark into a directory and prints the root profile's path and the
// tree's size.
//
//	go run ./profile/internal/benchtree/cmd/benchtree -o DIR [-levels N -fanout K]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/hbuild/hbuild/profile/internal/benchtree"
)

func main() {
	cfg := benchtree.Default()
	out := flag.String("o", "", "directory to write the tree into (created)")
	flag.IntVar(&cfg.Files, "files", cfg.Files, "number of files")
	flag.IntVar(&cfg.Sections, "sections", cfg.Sections, "number of sections (approximate)")
	flag.IntVar(&cfg.Levels, "levels", cfg.Levels, "dependency depth of the components")
	flag.IntVar(&cfg.Fanout, "fanout", cfg.Fanout, "components each component extends")
	flag.Int64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "benchtree: -o DIR is required")
		os.Exit(2)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "benchtree:", err)
		os.Exit(1)
	}
	root, st, err := benchtree.Generate(*out, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtree:", err)
		os.Exit(1)
	}
	fmt.Printf("%s files=%d sections=%d zc-buildout-opens=%d\n", root, st.Files, st.Sections, st.Opens)
}
