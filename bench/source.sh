#!/usr/bin/env bash
# Sources, side by side in one run (go test benchmarks of package source):
#   - unpack: hbuild's Unpack against the host's `tar -x` (with the same
#     decompressor flag) on one source tree (default: Go's src/net) in
#     every format: tar, gz, xz, zst, bz2, lz;
#   - git: FetchGit of a pinned commit into an empty cache plus Unpack of
#     the exported tree, against `git init && git fetch --depth 1 <commit>
#     && git checkout`, on a repository of COMMITS commits (default 3000)
#     made here with git fast-import (FILES files, default 2000).
# hbuild and its peer alternate inside each iteration; wall and CPU time
# (user + system, children included) are reported, with hbuild / peer
# ratios (below 1: hbuild is faster). On a loaded machine trust CPU time.
#
#   bash bench/source.sh
#   RUNS=10 COMMITS=5000 HBUILD_BENCH_SRC=/usr/include TMPDIR=/dev/shm bash bench/source.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for t in git tar go; do
	command -v "$t" >/dev/null || { echo "source.sh: $t is missing (make deps)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
commits=${COMMITS:-3000}
files=${FILES:-2000}
repo=$work/repo
git init -q --bare -b main "$repo"
awk -v commits="$commits" -v files="$files" 'BEGIN {
	srand(1)
	line = "the quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrstuvwxyz"
	for (c = 1; c <= commits; c++) {
		printf "commit refs/heads/main\ncommitter B <b@example.invalid> %d +0000\ndata 8\ncommit %d\n", 1600000000 + c, c % 10
		n = (c == 1) ? files : 3
		for (k = 0; k < n; k++) {
			f = (c == 1) ? k : int(rand() * files)
			body = sprintf("file %d version %d\n", f, c)
			for (l = 0; l < 24; l++) body = body line "\n"
			printf "M 100644 inline d%02d/f%05d.c\ndata %d\n%s\n", f % 50, f, length(body), body
		}
	}
}' | git -C "$repo" fast-import --quiet
echo "repository: $(git -C "$repo" rev-list --count main) commits, $(git -C "$repo" ls-tree -r main | wc -l) files"
out=$(HBUILD_BENCH_GIT=$repo go test -run '^$' -bench '^Benchmark(Unpack|FetchGit)$' -benchtime "${RUNS:-5}x" -count 1 ./source)
echo "$out" | grep -E '^(cpu|Benchmark)' || { echo "$out" >&2; exit 1; }
echo "$out" | awk '
function metrics(   i) { delete v; for (i = 3; i < NF; i++) v[$(i + 1)] = $i }
/^BenchmarkUnpack\// {
	split($1, a, "[/-]"); metrics()
	printf "unpack %-4s wall: hbuild %7.1f ms  tar -x %7.1f ms  ratio %.2f | cpu: hbuild %7.1f ms  tar -x %7.1f ms  ratio %.2f\n", a[2], v["hbuild-ms"], v["tar-ms"], v["hbuild-ms"] / v["tar-ms"], v["hbuild-cpu-ms"], v["tar-cpu-ms"], v["hbuild-cpu-ms"] / v["tar-cpu-ms"]
}
/^BenchmarkFetchGit/ {
	metrics()
	printf "git pinned commit wall: hbuild %7.1f ms  git fetch --depth 1 + checkout %7.1f ms  ratio %.2f | cpu: hbuild %7.1f ms  git %7.1f ms  ratio %.2f\n", v["hbuild-ms"], v["git-ms"], v["hbuild-ms"] / v["git-ms"], v["hbuild-cpu-ms"], v["git-cpu-ms"], v["hbuild-cpu-ms"] / v["git-cpu-ms"]
}'
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
