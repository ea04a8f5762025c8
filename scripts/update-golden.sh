#!/usr/bin/env bash
# Regenerates the golden image digests that the engine's tests compare
# against: engine/testdata/xml.digest (examples/xml, TestExampleXML) and
# engine/testdata/lxml.digest (examples/lxml, TestExampleLxml; it builds
# CPython and lxml, several minutes). Run it when the layer format
# (image.FormatVersion), a recipe's output or the examples' bases
# (examples/*/*.lock) change on purpose, and commit the result.
#
#   scripts/update-golden.sh            # both
#   scripts/update-golden.sh xml        # one
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/hbuild ./cmd/hbuild
cache=$(mktemp -d /var/tmp/hbuild-golden.XXXXXX)
trap 'rm -rf "$cache"' EXIT
examples=("$@")
[ ${#examples[@]} -gt 0 ] || examples=(xml lxml)
mkdir -p engine/testdata
for ex in "${examples[@]}"; do
	# Each example's image section has the example's name.
	digest=$(bin/hbuild build -c "examples/$ex/hbuild.cfg" --cache-dir "$cache" --progress plain "$ex" | awk -v n="$ex" '$1 == n { print $2 }')
	case "$digest" in
	sha256:*) ;;
	*) echo "update-golden: no digest from the build of examples/$ex" >&2; exit 1 ;;
	esac
	echo "$digest" > "engine/testdata/$ex.digest"
	echo "engine/testdata/$ex.digest: $digest"
done
