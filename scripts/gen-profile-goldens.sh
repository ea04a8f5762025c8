#!/usr/bin/env bash
# Regenerates profile/testdata/conformance/*/expected.json with the real
# zc.buildout (Debian's python3-zc.buildout 2.13.2, fixed by scripts/deps.sh).
# Idempotent: the output depends only on the case files.
#   scripts/gen-profile-goldens.sh            # every case
#   scripts/gen-profile-goldens.sh 07-macros  # only the named cases
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cases=$root/profile/testdata/conformance
py=/usr/bin/python3

if ! "$py" -I -c 'import zc.buildout.buildout' 2>/dev/null; then
	echo "gen-profile-goldens: zc.buildout does not import with $py;" \
		"run scripts/deps.sh (installs python3-zc.buildout and its Python 3.11 fix)" >&2
	exit 1
fi

if [ $# -gt 0 ]; then
	dirs=()
	for c in "$@"; do dirs+=("$cases/${c%/}"); done
else
	dirs=("$cases"/*/)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for d in "${dirs[@]}"; do
	d=${d%/}
	if ! "$py" -I "$root/scripts/buildout_golden.py" "$d" >"$tmp/out" 2>"$tmp/err"; then
		echo "gen-profile-goldens: $d failed:" >&2
		cat "$tmp/err" >&2
		exit 1
	fi
	if ! cmp -s "$tmp/out" "$d/expected.json"; then
		cp "$tmp/out" "$d/expected.json"
		echo "updated ${d#"$root"/}" >&2
	fi
	n=$((n + 1))
done
echo "gen-profile-goldens: $n cases" >&2
