#!/usr/bin/env bash
# Regenerates engine/testdata/xml.digest, the golden image digest of
# examples/xml that engine's TestExampleXML compares against. Run it when the
# layer format (image.FormatVersion), a recipe's output or the example's bases
# (examples/xml/*.lock) change on purpose, and commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/hbuild ./cmd/hbuild
cache=$(mktemp -d /var/tmp/hbuild-golden.XXXXXX)
trap 'rm -rf "$cache"' EXIT
digest=$(bin/hbuild build -c examples/xml/hbuild.cfg --cache-dir "$cache" --progress plain xml | awk '$1 == "xml" { print $2 }')
case "$digest" in
sha256:*) ;;
*) echo "update-golden: no digest from the build" >&2; exit 1 ;;
esac
mkdir -p engine/testdata
echo "$digest" > engine/testdata/xml.digest
echo "engine/testdata/xml.digest: $digest"
