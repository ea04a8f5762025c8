#!/usr/bin/env bash
# Turn a ~300 MB tree into one layer with hbuild (gzip and zstd) and with
# tar | gzip -6, tar | pigz and tar | zstd -3, side by side, and print the
# ratios. TREE=DIR uses your own tree; RUNS=N sets hyperfine's runs.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in hyperfine pigz zstd gzip tar python3; do
	command -v "$t" >/dev/null || { echo "layer.sh: $t is missing (make deps)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=${TREE:-}
if [ -z "$tree" ]; then
	# A real part-like tree: Go's distribution (sources, binaries, test
	# data) plus /usr/libexec (ELF binaries).
	tree=$work/tree
	mkdir -p "$tree"
	cp -a "$(go env GOROOT)" "$tree/go"
	cp -a /usr/libexec "$tree/libexec"
fi
go build -o "$work/layer" ./bench/cmd/layer
echo "tree: $(du -sh --apparent-size "$tree" | cut -f1), $(find "$tree" | wc -l) entries; $(nproc) CPUs"

hyperfine --warmup 1 --runs "${RUNS:-5}" --export-json "$work/h.json" \
	-n hbuild-gzip "$work/layer -o $work/hbuild.tar.gz $tree" \
	-n 'tar|gzip -6' "tar -C $tree -cf - . | gzip -6 > $work/tar.gz" \
	-n 'tar|pigz' "tar -C $tree -cf - . | pigz > $work/tar.pigz.gz" \
	-n hbuild-zstd "$work/layer -zstd -o $work/hbuild.tar.zst $tree" \
	-n 'tar|zstd -3' "tar -C $tree -cf - . | zstd -3 -q > $work/tar.zst"

python3 - "$work" <<'PY'
import json, os, sys
w = sys.argv[1]
res = json.load(open(os.path.join(w, "h.json")))["results"]
r = {x["command"]: x["mean"] for x in res}
cpu = {x["command"]: x["user"] + x["system"] for x in res}
size = lambda f: os.path.getsize(os.path.join(w, f)) / 1e6
print()
print("%-12s %8s %8s %9s" % ("", "mean s", "cpu s", "size MB"))
for name, f in [("hbuild-gzip", "hbuild.tar.gz"), ("tar|gzip -6", "tar.gz"), ("tar|pigz", "tar.pigz.gz"),
                ("hbuild-zstd", "hbuild.tar.zst"), ("tar|zstd -3", "tar.zst")]:
    print("%-12s %8.2f %8.2f %9.1f" % (name, r[name], cpu[name], size(f)))
print()
print("tar|gzip -6 / hbuild-gzip = %.2fx   (goal >= 2)" % (r["tar|gzip -6"] / r["hbuild-gzip"]))
print("hbuild-gzip / tar|pigz    = %.2fx   (goal <= 1.2)" % (r["hbuild-gzip"] / r["tar|pigz"]))
print("hbuild-zstd / tar|zstd -3 = %.2fx" % (r["hbuild-zstd"] / r["tar|zstd -3"]))
PY
