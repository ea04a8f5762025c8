#!/usr/bin/env bash
# Runs every Go fuzz target for a short time (FUZZTIME, default 10s). A
# crasher is written by go test to the package's testdata/fuzz and fails
# the run: commit it as a regression case once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
status=0
for f in $(git ls-files '*_test.go'); do
	d=$(dirname "$f")
	for t in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
		echo "== fuzz $d $t ($fuzztime)"
		timeout 5m go test -run '^$' -fuzz "^$t\$" -fuzztime "$fuzztime" "./$d" || status=1
	done
done
exit $status
