#!/usr/bin/env bash
# Issue 8, literally: a fully cached `hbuild build` of examples/xml on an
# empty local part cache, pulling every part from a loopback
# docker-registry, against `skopeo copy` of the same image from that
# registry into an OCI layout, run after run in the same loop.
#
# Machine A (untimed) builds the example with --cache pointing at the
# registry (every part is pushed) and pushes the image itself. Each timed
# hbuild run starts from a fresh cache directory that holds only the
# Debian bases (hard links: they are not parts and are not in the shared
# cache) and builds offline: it looks up 3 keys, pulls 3 parts, assembles
# the image and writes it to an OCI layout; skopeo copies the image's
# manifest, config and layers into an OCI layout.
#
#   RUNS=5 bash bench/cache-xml.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
for t in docker-registry skopeo go; do
	command -v "$t" >/dev/null || { echo "cache-xml.sh: $t is missing (make deps)" >&2; exit 1; }
done
hb=$PWD/bin/hbuild
go build -o "$hb" ./cmd/hbuild
work=$(mktemp -d /var/tmp/hbuild-bench-cachexml.XXXXXX)
reg_pid=
cleanup() {
	[ -z "$reg_pid" ] || kill "$reg_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
cat >"$work/registry.yml" <<CONF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: $host
CONF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do
	curl -sf "http://$host/v2/" >/dev/null && break
	sleep 0.1
done
cfg=examples/xml/hbuild.cfg
"$hb" --cache-dir "$work/a" -c "$cfg" --progress plain build --cache "$host/hbuild-cache" --insecure-registry \
	--output "$host/xml:bench" >"$work/a.log" 2>&1 || { tail -20 "$work/a.log" >&2; exit 1; }
echo "examples/xml: 3 parts, $(du -sh "$work/registry" | cut -f1) in the registry; $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
ms() { echo "($2 - $1) * 1000" | bc | cut -d. -f1; }
hs=() ss=()
for i in $(seq "$runs"); do
	b=$work/b$i
	mkdir -p "$b"
	cp -al "$work/a/bases" "$b/bases"
	t0=$(date +%s.%N)
	"$hb" --cache-dir "$b" -c "$cfg" --progress plain build --offline --cache "$host/hbuild-cache" --cache-mode read \
		--insecure-registry --output "oci-layout:$b/out:xml" >"$b.log" 2>&1 || { tail -20 "$b.log" >&2; exit 1; }
	t1=$(date +%s.%N)
	grep -q " 0 built" "$b.log" || grep -q "^0 built" "$b.log" || { echo "run $i built parts:" >&2; tail -5 "$b.log" >&2; exit 1; }
	skopeo copy -q --src-tls-verify=false "docker://$host/xml:bench" "oci:$work/s$i:xml"
	t2=$(date +%s.%N)
	h=$(ms "$t0" "$t1") s=$(ms "$t1" "$t2")
	hs+=("$h") ss+=("$s")
	printf 'run %d: hbuild build %5d ms   skopeo copy %5d ms   ratio %.2f\n' "$i" "$h" "$s" "$(echo "$h / $s" | bc -l)"
	[ -n "${KEEP:-}" ] || rm -rf "$b" "$work/s$i"
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
h=$(med "${hs[@]}") s=$(med "${ss[@]}")
printf 'median: hbuild build %d ms, skopeo copy %d ms, ratio %.2f\n' "$h" "$s" "$(echo "$h / $s" | bc -l)"
