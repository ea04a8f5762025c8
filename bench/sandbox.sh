#!/usr/bin/env bash
# Start-and-exit of /bin/true in the same root file system with hbuild's
# sandbox (`hbuild sandbox run`), runc (`runc run`, bundle from `runc spec`)
# and bubblewrap, side by side in one hyperfine run; prints the ratios.
#
#   bash bench/sandbox.sh            # ROOTFS defaults to the test toolchain tree
#   ROOTFS=/some/rootfs RUNS=200 bash bench/sandbox.sh
#
# As root everything runs as root; otherwise all three run rootless.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOTFS=${ROOTFS:-/var/tmp/hbuild-test/toolchain-v1}
RUNS=${RUNS:-100}
HBUILD=${HBUILD:-bin/hbuild}
if [ ! -x "$ROOTFS/bin/true" ]; then
	echo "bench/sandbox.sh: no root file system at $ROOTFS (go test ./sandbox makes it, as root; or set ROOTFS)" >&2
	exit 1
fi
for tool in runc bwrap hyperfine python3; do
	command -v "$tool" >/dev/null || { echo "bench/sandbox.sh: $tool not found (make deps)" >&2; exit 1; }
done
[ -x "$HBUILD" ] || go build -o "$HBUILD" ./cmd/hbuild

work=$(mktemp -d /tmp/hbuild-bench-sandbox.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

# runc: the default spec, with the same root (read-only) and command.
mkdir "$work/bundle"
rootless=()
if [ "$(id -u)" -ne 0 ]; then
	rootless=(--rootless)
fi
(cd "$work/bundle" && runc spec "${rootless[@]}")
python3 - "$work/bundle/config.json" "$ROOTFS" <<'PY'
import json, sys
path, rootfs = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["root"] = {"path": rootfs, "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(path, "w"), indent=1)
PY
runc_root=()
if [ "$(id -u)" -ne 0 ]; then
	runc_root=(--root "$work/runc-state")
fi

id=hbuild-bench-$$
runc_cmd="runc ${runc_root[*]} run --bundle $work/bundle $id"
hbuild_cmd="$HBUILD sandbox run --rootfs $ROOTFS -- /bin/true"
bwrap_cmd="bwrap --ro-bind $ROOTFS / --proc /proc --dev /dev --tmpfs /tmp --unshare-all --die-with-parent /bin/true"

echo "rootfs: $ROOTFS; $(nproc) CPUs; load average: $(cut -d' ' -f1-3 /proc/loadavg); user: $(id -un)"
hyperfine -N --warmup 10 --runs "$RUNS" --export-json "$work/result.json" \
	-n hbuild "$hbuild_cmd" -n runc "$runc_cmd" -n bwrap "$bwrap_cmd"

python3 - "$work/result.json" <<'PY'
import json, statistics, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
def ms(name, key):
    return r[name][key] * 1000
print()
print("%-8s %9s %9s %9s" % ("", "mean ms", "median ms", "min ms"))
for n in ("hbuild", "runc", "bwrap"):
    print("%-8s %9.1f %9.1f %9.1f" % (n, ms(n, "mean"), ms(n, "median"), ms(n, "min")))
print()
for key in ("mean", "median"):
    h, c, b = (r[n][key] for n in ("hbuild", "runc", "bwrap"))
    print("%-6s hbuild/runc = %.2f   hbuild/bwrap = %.2f" % (key, h / c, h / b))
PY
