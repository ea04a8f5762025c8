#!/usr/bin/env bash
# Shared cache: a fully cached build on an empty cache directory pulls every
# part from a loopback docker-registry. BenchmarkRemoteCache (cache package)
# starts the registry, pushes N parts (N = 1, 10, 50), then in one run times
# hbuild's Prefetch (look every key up, pull, verify, unpack into the store)
# against `skopeo copy` of an image made of the same layers from the same
# registry to an OCI layout, and this script prints the ratios and the cost
# per added part (slopes between N=1 and N=50 and between N=10 and N=50).
# In the same run, BenchmarkCommit gives the local store's commit cost per
# part: 50 pulled entries committed one by one (Pending.Commit, as Pull
# does) and as one batch (Store.CommitAll, as PullAll/Prefetch do).
#
#   bash bench/cache.sh
#   RUNS=10 PART_BYTES=1048576 TMPDIR=/dev/shm bash bench/cache.sh
#   DEFER_TREES=1 bash bench/cache.sh
#
# RUNS: iterations per N (default 5); PART_BYTES: incompressible data per
# part (default 256 KiB); TMPDIR on tmpfs takes the disk (fsync) out;
# DEFER_TREES=1 pulls with RemoteOptions.DeferTrees (every layer checked,
# no tree unpacked until a build needs it).
set -euo pipefail
cd "$(dirname "$0")/.."
for t in docker-registry skopeo go; do
	command -v "$t" >/dev/null || { echo "cache.sh: $t is missing (make deps)" >&2; exit 1; }
done
out=$(HBUILD_BENCH_PART_BYTES=${PART_BYTES:-262144} HBUILD_BENCH_DEFER_TREES=${DEFER_TREES:-0} go test -run '^$' -bench '^(BenchmarkRemoteCache|BenchmarkCommit)$' -benchtime "${RUNS:-5}x" -count 1 ./cache)
echo "$out" | grep -E '^(cpu|Benchmark)' || { echo "$out" >&2; exit 1; }
echo "$out" | awk -v cpus="$(nproc)" '
/^BenchmarkCommit\// {
	split($1, a, "[/-]"); c[a[2]] = $(NF - 1)
}
/^BenchmarkRemoteCache\/parts=/ {
	split($1, a, "[=-]"); n = a[2]
	for (i = 4; i < NF; i++) v[$(i + 1)] = $i
	h[n] = v["hbuild-ms"]; s[n] = v["skopeo-ms"]
	printf "parts=%-3d hbuild %8.1f ms  skopeo copy %8.1f ms  ratio %.2f\n", n, h[n], s[n], h[n] / s[n]
}
END {
	if ((1 in h) && (50 in h))
		printf "per added part (1 -> 50): hbuild %.1f ms, skopeo %.1f ms (%d CPUs, load %s)\n", (h[50] - h[1]) / 49, (s[50] - s[1]) / 49, cpus, load
	if ((10 in h) && (50 in h))
		printf "per added part (10 -> 50): hbuild %.1f ms, skopeo %.1f ms\n", (h[50] - h[10]) / 40, (s[50] - s[10]) / 40
	if (("each" in c) && ("batch" in c))
		printf "store commit per part (50 entries): one by one %.2f ms, batch %.2f ms\n", c["each"], c["batch"]
}' load="$(cut -d' ' -f1 /proc/loadavg)"
