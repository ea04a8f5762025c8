#!/usr/bin/env bash
# hbuild verify against lddtree (pax-utils) over the same tree, side by
# side in one hyperfine run: mean times, ELF files per second and the ratio.
#
#   bash bench/policy.sh [TREE]        (default /usr/lib/x86_64-linux-gnu)
#
# Both read ELF files without executing them and resolve every needed
# library through the search path: hbuild checks TREE as one part with the
# host's root as the runtime base (--runtime /), lddtree gets every file of
# TREE and skips the non-ELF ones. lddtree is Python and needs Debian's
# python3-pyelftools, so it runs with /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=${1:-/usr/lib/x86_64-linux-gnu}
runs=${RUNS:-20}
ldd_runs=${LDDTREE_RUNS:-3}
for tool in hyperfine lddtree /usr/bin/python3; do
	command -v "$tool" >/dev/null || { echo "policy.sh: $tool missing (make deps)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import elftools' 2>/dev/null || { echo "policy.sh: python3-pyelftools missing (apt-get install python3-pyelftools)" >&2; exit 1; }

go build -o bin/hbuild ./cmd/hbuild
hb=$PWD/bin/hbuild
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
find "$tree" -type f -print0 >"$work/files"
"$hb" verify --json --runtime / "$tree" >"$work/report.json" || true
nelf=$(/usr/bin/python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["files"]))' "$work/report.json")
nfiles=$(tr -cd '\0' <"$work/files" | wc -c)
echo "tree $tree: $nfiles files, $nelf ELF executables and shared objects; $(nproc) CPUs"

# lddtree takes about a minute per run here, so it gets fewer runs.
hyperfine --warmup 3 --runs "$runs" --ignore-failure --export-json "$work/hb.json" \
	-n "hbuild verify" "$hb verify --runtime / $tree"
hyperfine --warmup 1 --runs "$ldd_runs" --ignore-failure --export-json "$work/ld.json" \
	-n "lddtree" "xargs -0 -a $work/files /usr/bin/python3 /usr/bin/lddtree --skip-non-elfs"

/usr/bin/python3 - "$work/hb.json" "$work/ld.json" "$nelf" <<'PY'
import json, sys
res = {r["command"]: r for f in sys.argv[1:3] for r in json.load(open(f))["results"]}
n = int(sys.argv[3])
hb, ld = res["hbuild verify"], res["lddtree"]
for name, r in (("hbuild verify", hb), ("lddtree", ld)):
    cpu = r['user'] + r['system']
    print(f"{name:14s} mean {r['mean']*1000:9.1f} ms ± {r['stddev']*1000:.1f} (min {r['min']*1000:.1f}; cpu {cpu*1000:.0f} ms)"
          f"  {n / r['mean']:8.0f} ELF files/s (best run {n / r['min']:.0f}; {n / cpu:.0f} per CPU-second)")
hcpu, lcpu = hb['user'] + hb['system'], ld['user'] + ld['system']
print(f"hbuild verify is {ld['mean'] / hb['mean']:.1f}x faster than lddtree (wall, mean), and uses {lcpu / hcpu:.0f}x less CPU")
PY
