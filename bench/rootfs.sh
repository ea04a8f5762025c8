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
# (3-4x faster than the pure-Go decoder); the pure-Go run is shown too.
#
#   bash bench/rootfs.sh            # RUNS=5 by default
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
hb=$PWD/bin/hbuild
go build -o "$hb" ./cmd/hbuild
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is needed (make deps)" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine is needed (make deps)" >&2; exit 1; }
command -v dpkg-scanpackages >/dev/null || { echo "dpkg-scanpackages (dpkg-dev) is needed" >&2; exit 1; }

work=$(mktemp -d /var/tmp/hbuild-bench-rootfs.XXXXXX)
cleanup() {
	# A failed mmdebstrap run can leave its bind mount of the repository.
	grep -o " $work/mm[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
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

echo "toolchain base: $(grep -c ' pool/' "$lock") packages (mmdebstrap: ${#pkgs[@]}), $(du -sh "$repo" | cut -f1) of debs; $(nproc) CPUs"
hyperfine --runs "$runs" --export-json "$work/result.json" \
	--prepare "rm -rf '$cache/bases'" \
	-n hbuild "'$hb' --cache-dir '$cache' rootfs build toolchain --offline --lock '$lock'" \
	--prepare "rm -rf '$cache/bases'" \
	-n hbuild-pure-go-xz "HBUILD_PURE_GO_XZ=1 '$hb' --cache-dir '$cache' rootfs build toolchain --offline --lock '$lock'" \
	--prepare "rm -rf '$work/mm'" \
	-n mmdebstrap "mmdebstrap --quiet --variant=custom --include='$include' --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount $suite '$work/mm' 'deb [trusted=yes] file://$repo ./'"

python3 - "$work/result.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
h, g, m = r["hbuild"]["mean"], r["hbuild-pure-go-xz"]["mean"], r["mmdebstrap"]["mean"]
print(f"hbuild                    {h:6.2f} s (min {r['hbuild']['min']:.2f})")
print(f"hbuild, pure-Go xz        {g:6.2f} s (min {r['hbuild-pure-go-xz']['min']:.2f})")
print(f"mmdebstrap                {m:6.2f} s (min {r['mmdebstrap']['min']:.2f})")
print(f"mmdebstrap / hbuild       {m / h:6.1f}x")
print(f"mmdebstrap / hbuild (Go)  {m / g:6.1f}x")
PY
