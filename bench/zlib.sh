#!/usr/bin/env bash
# The same zlib build (Debian's upstream tarball of zlib 1.2.13, the zlib
# part of examples/xml) three ways, side by side:
#   host:   ./configure && make && make install, by hand on the host
#   hbuild: hbuild build of the part (bases cached, part not cached)
#   podman: podman build of an equivalent Containerfile on a base made from
#           the same Debian packages (hbuild's toolchain base tree imported)
# Prints hyperfine's table and the ratios. Needs root, hyperfine, podman.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
go build -o bin/hbuild ./cmd/hbuild
hb=$PWD/bin/hbuild
cache=${HBUILD_BENCH_CACHE:-/var/tmp/hbuild-bench-cache} # keeps the bases between runs
work=$(mktemp -d /var/tmp/hbuild-bench-zlib.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/zlib.cfg" <<CFG
[buildout]
extends = $PWD/examples/xml/hbuild.cfg
parts = zlib
CFG
hbuild=("$hb" --cache-dir "$cache" -c "$work/zlib.cfg")

# Warm up: bases, the zlib tarball, the toolchain tree.
sum=$("${hbuild[@]}" fetch --lock-dir examples/xml zlib | awk '$1 == "zlib" { print $3 }')
tarball="$cache/blobs/sha256/$sum"
[ -f "$tarball" ] || { echo "bench: zlib tarball not in the cache" >&2; exit 1; }
"${hbuild[@]}" build --lock-dir examples/xml --progress plain zlib >/dev/null 2>&1
tree=""
for d in "$cache"/bases/*/tree; do
	if [ -x "$d/usr/bin/gcc" ]; then tree=$d; fi
done
[ -n "$tree" ] || { echo "bench: no toolchain base tree in $cache" >&2; exit 1; }

# podman base: the same Debian packages as hbuild's toolchain base.
if ! podman image exists localhost/hbuild-toolchain:bench; then
	tar -C "$tree" -c . | podman import - localhost/hbuild-toolchain:bench >/dev/null
fi
mkdir -p "$work/ctx"
cp "$tarball" "$work/ctx/zlib.tar.gz"
cat > "$work/ctx/Containerfile" <<'CF'
FROM localhost/hbuild-toolchain:bench
COPY zlib.tar.gz /src/zlib.tar.gz
RUN mkdir -p /build && tar xf /src/zlib.tar.gz -C /build --strip-components 1 && cd /build \
 && ./configure --prefix=/opt/hbuild/parts/zlib --libdir=/opt/hbuild/parts/zlib/lib && make -j2 && make install
CF

hyperfine -r "$runs" --export-markdown "$work/table.md" \
	-n host --prepare "rm -rf $work/host $work/inst; mkdir -p $work/host" \
	"cd $work/host && tar xf $tarball --strip-components 1 && ./configure --prefix=$work/inst --libdir=$work/inst/lib >/dev/null && make -j2 >/dev/null && make install >/dev/null" \
	-n hbuild --prepare "${hbuild[*]} cache prune zlib >/dev/null" \
	"${hbuild[*]} build --lock-dir examples/xml --progress plain zlib" \
	-n podman --prepare true \
	"podman build -q --no-cache -t localhost/zlib-bench:latest $work/ctx"
cat "$work/table.md"
