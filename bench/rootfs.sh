#!/usr/bin/env bash
# Builds the toolchain base from a warm download cache with hbuild and with
# mmdebstrap, side by side, from the very same .deb files, and prints the
# ratio. hbuild: `hbuild rootfs build --offline` of a locked base whose debs
# are in the download cache (the base itself is removed before each run).
# mmdebstrap: --variant=custom with the same package list (and base-passwd,
# which its dpkg run needs) from a local flat file:// repository holding
# exactly those debs (no network either), into a directory.
#
# hbuild decompresses data.tar.xz with the host's xz when there is one
# (3-4x faster than the pure-Go decoder); the pure-Go run is shown too. The
# commands take turns run after run, so a change in the machine's load hits
# them alike. Needs root (mmdebstrap bind-mounts the repository).
#
#   bash bench/rootfs.sh            # RUNS=5 by default
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
hb=$PWD/bin/hbuild
go build -o "$hb" ./cmd/hbuild
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is needed (make deps)" >&2; exit 1; }
command -v dpkg-scanpackages >/dev/null || { echo "dpkg-scanpackages (dpkg-dev) is needed" >&2; exit 1; }

work=$(mktemp -d /var/tmp/hbuild-bench-rootfs.XXXXXX)
cleanup() {
	# A failed mmdebstrap run can leave its bind mount of the repository.
	grep -o " $work/mm[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
# Each run writes where the previous run's tree was just deleted. On ext4
# without a journal, allocating inodes among ones deleted in the last minutes
# is slow (the allocator checks each of them): hbuild flags its bases
# directory as a top directory (chattr +T) so that every base gets a block
# group of its own. mmdebstrap's target gets the same placement: its parent,
# $work, is flagged too (MM_TOPDIR=0 leaves it unflagged, as a plain
# directory a user would give mmdebstrap).
topdir=no
if [ "${MM_TOPDIR:-1}" = 1 ] && chattr +T "$work" 2>/dev/null; then topdir=yes; fi
cache=$work/cache
lock=$work/toolchain.lock

# Not timed: resolve, download the debs, build once.
"$hb" --cache-dir "$cache" rootfs lock toolchain --lock "$lock" >/dev/null
"$hb" --cache-dir "$cache" rootfs build toolchain --lock "$lock" >/dev/null 2>&1

# A flat repository of the same debs for mmdebstrap, plus base-passwd:
# dpkg runs base-files' maintainer script, which needs the users and groups
# that base-passwd makes (hbuild writes /etc/passwd and /etc/group itself).
request=$(awk '$1=="request"{$1=""; print}' "$lock")
printf '[buildout]\nparts =\n\n[mm]\nrecipe = debian-rootfs\npackages = %s base-passwd\nlock = mm.lock\n' "$request" >"$work/mm.cfg"
"$hb" -c "$work/mm.cfg" --cache-dir "$cache" rootfs build mm >/dev/null 2>&1
repo=$work/repo
mkdir -p "$repo"
pkgs=()
while read -r name version arch size sha file; do
	case "$name" in '#'*|arch|suites|request|'') continue ;; esac
	ln "$cache/blobs/sha256/$sha" "$repo/$(basename "$file")"
	pkgs+=("$name")
done <"$work/mm.lock"
(cd "$repo" && dpkg-scanpackages -m . >Packages 2>/dev/null)
include=$(IFS=,; echo "${pkgs[*]}")
suite=$(awk '$1=="suites"{print $2}' "$lock")

echo "toolchain base: $(grep -c ' pool/' "$lock") packages (mmdebstrap: ${#pkgs[@]}), $(du -sh "$repo" | cut -f1) of debs; $(nproc) CPUs; mmdebstrap's parent directory flagged +T: $topdir"
# The three commands take turns, run after run, so that a change in the
# machine's load hits them alike; each run's ratio is printed, then medians.
hbuild_cmd=("$hb" --cache-dir "$cache" rootfs build toolchain --offline --lock "$lock")
mm_cmd=(mmdebstrap --quiet --variant=custom "--include=$include"
	--hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount
	"$suite" "$work/mm" "deb [trusted=yes] file://$repo ./")
timed() { # prints wall, user+sys seconds of "$@" (stdout discarded)
	local t0 t1
	t0=$(date +%s.%N)
	/usr/bin/time -f "%U %S" -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; return 1; }
	t1=$(date +%s.%N)
	read -r u s <"$work/time"
	awk -v a="$t0" -v b="$t1" -v u="$u" -v s="$s" 'BEGIN { printf "%.3f %.2f\n", b - a, u + s }'
}
: >"$work/results"
for i in $(seq "$runs"); do
	rm -rf "$cache/bases"
	read -r hw hc < <(timed "${hbuild_cmd[@]}")
	rm -rf "$cache/bases"
	read -r gw gc < <(HBUILD_PURE_GO_XZ=1 timed "${hbuild_cmd[@]}")
	rm -rf "$work/mm"
	read -r mw mc < <(timed "${mm_cmd[@]}")
	printf 'run %d: hbuild %6.2f s (cpu %5.2f)  pure-Go xz %6.2f s (cpu %5.2f)  mmdebstrap %6.2f s (cpu %5.2f)  ratio %4.1fx  load %s\n' \
		"$i" "$hw" "$hc" "$gw" "$gc" "$mw" "$mc" "$(awk -v m="$mw" -v h="$hw" 'BEGIN { print m / h }')" "$(cut -d' ' -f1 /proc/loadavg)"
	echo "$hw $gw $mw $hc $gc $mc" >>"$work/results"
done

python3 - "$work/results" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
med = [statistics.median(c) for c in zip(*rows)]
h, g, m, hc, gc, mc = med
print(f"median wall: hbuild {h:.2f} s, hbuild pure-Go xz {g:.2f} s, mmdebstrap {m:.2f} s")
print(f"median cpu:  hbuild {hc:.2f} s, hbuild pure-Go xz {gc:.2f} s, mmdebstrap {mc:.2f} s")
print(f"mmdebstrap / hbuild: {m / h:.1f}x (pure-Go xz: {m / g:.1f}x); median of per-run ratios {statistics.median(r[2] / r[0] for r in rows):.1f}x; cpu {mc / hc:.1f}x")
PY
