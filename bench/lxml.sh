#!/usr/bin/env bash
# Issue 9: examples/lxml (CPython, zlib, libxml2, libxslt, lxml, a scripts
# part, the image) on a cold cache, then again after changing only the
# options of [lxml-python]: only lxml-python, the scripts part that uses it
# and the image may run again. Prints the wall time of each build and the
# parts it ran.
#
# The download cache is filled first, untimed (hbuild fetch), so that the
# network does not weigh in; the cold build then makes everything else:
# the toolchain and glibc bases from their .debs, every part, the image.
#
#   bash bench/lxml.sh
set -euo pipefail
cd "$(dirname "$0")/.."
hb=$PWD/bin/hbuild
go build -o "$hb" ./cmd/hbuild
work=$(mktemp -d /var/tmp/hbuild-bench-lxml.XXXXXX)
trap 'rm -rf "$work"' EXIT
cfg=examples/lxml/hbuild.cfg
run() { # label, extra args...
	local label=$1
	shift
	local t0 t1
	t0=$(date +%s.%N)
	"$hb" --cache-dir "$work/cache" -c "$cfg" --progress plain build "$@" >"$work/out" 2>"$work/log" || {
		tail -30 "$work/log" >&2
		exit 1
	}
	t1=$(date +%s.%N)
	# "part (its build time)" for every part that ran; the image is
	# assembled again each time (no build: a few milliseconds).
	ran=$(sed -n 's/^ *[0-9.]*s \([^ :]*\): done in \(.*\)$/\1 (\2)/p' "$work/log" | sort | paste -sd, - | sed 's/,/, /g')
	printf '%-32s %9.2f s   ran: %s\n' "$label" "$(echo "$t1 - $t0" | bc)" "${ran:-nothing}"
}
"$hb" --cache-dir "$work/cache" -c "$cfg" fetch >/dev/null 2>&1
echo "examples/lxml, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
run "cold cache"
run "again (nothing changed)"
run "[lxml-python] define changed" -o "lxml-python:define=LXML_BENCH_CHANGED"
