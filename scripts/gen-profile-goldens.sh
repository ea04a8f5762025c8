#!/usr/bin/env bash
# Regenerates profile/testdata/conformance/*/expected.json with the real
# zc.buildout (Debian's python3-zc.buildout 2.13.2, fixed by scripts/deps.sh).
# Idempotent: the output depends only on the case files; a golden is
# rewritten only when it changes. zc.buildout is imported once and every
# case runs in its own forked process (see scripts/buildout_golden.py).
#   scripts/gen-profile-goldens.sh            # every case
#   scripts/gen-profile-goldens.sh 28-macro   # only the named cases
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

# zc.buildout's own log lines ("Creating directory ...") are dropped; the
# harness reports failures and updated goldens on stderr.
set +e
"$py" -I "$root/scripts/buildout_golden.py" --write "${dirs[@]%/}" 2>&1 |
	grep -v "^Creating directory '" >&2
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || { echo "gen-profile-goldens: failed" >&2; exit "$rc"; }
echo "gen-profile-goldens: ${#dirs[@]} cases" >&2
