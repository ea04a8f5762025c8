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

# timed CMD... runs CMD (stdout to $out) and prints "wall cpu" in ms, cpu =
# user + sys of the command: robust when the machine is busy.
timed() {
	local TIMEFORMAT='%R %U %S' t
	t=$({ time "$@" >"$out" 2>>"$tmp/stderr"; } 2>&1)
	echo "$t" | awk '{printf "%.1f %.1f\n", $1*1000, ($2+$3)*1000}'
}
stats() { sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f\n", a[1], a[int((NR+1)/2)]}'; }

# hbuild: best and median of RUNS runs.
runs=${RUNS:-20}
out=$tmp/hbuild.txt
for _ in $(seq 3); do timed $hbcmd >/dev/null; done
: >"$tmp/hb.times"
for _ in $(seq "$runs"); do timed $hbcmd >>"$tmp/hb.times"; done
read -r hb_wall_best hb_wall_med < <(awk '{print $1}' "$tmp/hb.times" | stats)
read -r hb_cpu_best hb_cpu_med < <(awk '{print $2}' "$tmp/hb.times" | stats)
printf 'hbuild annotate:      wall best %9.1f ms  median %9.1f ms | cpu best %9.1f ms  median %9.1f ms  (%d runs)\n' \
	"$hb_wall_best" "$hb_wall_med" "$hb_cpu_best" "$hb_cpu_med" "$runs"

if [ -z "${SKIP_BUILDOUT:-}" ]; then
	out=$tmp/buildout.txt
	read -r bo_wall bo_cpu < <(cd "$tmp/tree" && HOME=$tmp/home timed timeout "${BUILDOUT_TIMEOUT:-3600}" $bocmd)
	printf 'zc.buildout annotate: wall      %9.1f ms                  | cpu      %9.1f ms  (1 run)\n' "$bo_wall" "$bo_cpu"
	printf 'ratio zc.buildout / hbuild (median): wall %.0fx, cpu %.0fx\n' \
		"$(echo "$bo_wall/$hb_wall_med" | bc -l)" "$(echo "$bo_cpu/$hb_cpu_med" | bc -l)"
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
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

echo "Go benchmarks (BenchmarkLoad400: Load; BenchmarkLoadResolve400: Load + substitute every section):"
go test -run '^$' -bench 'BenchmarkLoad(Resolve)?400' -benchtime "${BENCHTIME:-20x}" -count "${COUNT:-3}" ./profile/ | grep -E '^Benchmark'
