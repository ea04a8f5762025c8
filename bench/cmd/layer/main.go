// Command layer writes the hbuild layer of a directory, for bench/layer.sh:
//
//	layer [-zstd] [-prefix P] -o OUT DIR
//
// It prints the digest, diff ID and size of the layer.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/hbuild/hbuild/image"
)

func main() {
	out := flag.String("o", "", "output file")
	zstd := flag.Bool("zstd", false, "zstd instead of gzip")
	prefix := flag.String("prefix", "opt/hbuild/parts/bench", "path of the tree in the image")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: layer [-zstd] [-prefix P] -o OUT DIR")
		os.Exit(2)
	}
	opts := image.LayerOptions{Prefix: *prefix}
	if *zstd {
		opts.Compression = "zstd"
	}
	info, err := image.WriteLayerFile(context.Background(), flag.Arg(0), *out, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "layer:", err)
		os.Exit(1)
	}
	fmt.Println(info.Digest, info.DiffID, info.Size)
}
