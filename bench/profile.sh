#!/usr/bin/env bash
# Loads a generated tree of 400 profile files / ~3,000 sections (extends
# chains and diamonds, +=, <= macros, ${} substitution: see
# profile/internal/benchtree) with hbuild and with zc.buildout 2.13, side by
# side, checks that both print the same annotate output, and prints the
# ratio. Also runs the Go benchmark BenchmarkLoad400.
#
#   bash bench/profile.sh                 # the standard tree
#   LEVELS=4 bash bench/profile.sh        # a shallower tree (fewer paths)
#   SKIP_BUILDOUT=1 bash bench/profile.sh # hbuild only
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build >/dev/null
hb=$PWD/bin/hbuild
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/home"

gen=(go run ./profile/internal/benchtree/cmd/benchtree -o "$tmp/tree")
[ -n "${LEVELS:-}" ] && gen+=(-levels "$LEVELS")
[ -n "${FANOUT:-}" ] && gen+=(-fanout "$FANOUT")
info=$("${gen[@]}")
root=${info%% *}
echo "tree: ${info#* }"

# The same invocation for both: no user defaults, not newest, offline (so
# zc.buildout never reaches the network), annotate prints everything.
hbcmd="$hb -U -c $root annotate buildout:newest=false buildout:offline=true"
bocmd="/usr/bin/buildout -U -N -o -c $root annotate"

now() { date +%s%N; }

# hbuild: best and median of RUNS runs.
runs=${RUNS:-20}
times=()
for _ in $(seq 3); do $hbcmd >/dev/null; done
for _ in $(seq "$runs"); do
	t0=$(now)
	$hbcmd >"$tmp/hbuild.txt"
	t1=$(now)
	times+=($(((t1 - t0) / 1000)))
done
read -r hb_best hb_median < <(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%d %d\n", a[1], a[int((NR+1)/2)]}')
printf 'hbuild annotate:     best %8.1f ms  median %8.1f ms  (%d runs)\n' \
	"$(echo "$hb_best/1000" | bc -l)" "$(echo "$hb_median/1000" | bc -l)" "$runs"

if [ -z "${SKIP_BUILDOUT:-}" ]; then
	t0=$(now)
	(cd "$tmp/tree" && HOME=$tmp/home timeout "${BUILDOUT_TIMEOUT:-1800}" $bocmd >"$tmp/buildout.txt" 2>"$tmp/buildout.err")
	t1=$(now)
	bo_us=$(((t1 - t0) / 1000))
	printf 'zc.buildout annotate:         %10.1f ms  (1 run)\n' "$(echo "$bo_us/1000" | bc -l)"
	printf 'ratio (zc.buildout / hbuild median): %.0fx\n' "$(echo "$bo_us/$hb_median" | bc -l)"
	# Same output, except the Python executable and buildout's log line.
	strip() { grep -v '^Creating directory' "$1" | grep -v -A1 '^executable=' ; }
	if diff <(strip "$tmp/buildout.txt") <(strip "$tmp/hbuild.txt") >"$tmp/diff"; then
		echo "annotate output: identical ($(wc -l <"$tmp/hbuild.txt") lines)"
	else
		echo "annotate output DIFFERS:"
		head -20 "$tmp/diff"
		exit 1
	fi
fi

echo "Go benchmarks (BenchmarkLoad400: Load; BenchmarkLoadResolve400: Load + substitute every section):"
go test -run '^$' -bench 'BenchmarkLoad(Resolve)?400' -benchtime "${BENCHTIME:-20x}" -count "${COUNT:-3}" ./profile/ | grep -E '^Benchmark'
