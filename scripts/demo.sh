#!/usr/bin/env bash
# The main job, end to end: build examples/xml (zlib -> libxml2 -> libxslt
# from Debian's upstream tarballs, on the locked toolchain base) into an OCI
# image, check it against the glibc-only policy, and run xsltproc from it in
# the sandbox. Run it twice: the second build builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
hb=bin/hbuild
out=${DEMO_OUT:-demo-out}
cache=${HBUILD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hbuild}

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "plan: the parts, in dependency order, with their keys"
$hb --cache-dir "$cache" plan -c examples/xml/hbuild.cfg

step "build: every part in the sandbox, then the image (oci-layout:$out:xml)"
time $hb --cache-dir "$cache" build -c examples/xml/hbuild.cfg --output "oci-layout:$out:xml"

step "verify: every ELF file of the image needs only glibc and declared parts"
$hb verify --brief "oci-layout:$out:xml"

step "run: xsltproc from the image, in the sandbox, with no network"
$hb --cache-dir "$cache" run "oci-layout:$out:xml" -- xsltproc --version

step "build again: nothing to do"
time $hb --cache-dir "$cache" build -c examples/xml/hbuild.cfg --output "oci-layout:$out:xml"
echo >&2
echo "The image is in $out/ (an OCI layout; try: skopeo inspect oci:$out:xml); its SPDX SBOM is $out-xml.spdx.json." >&2
