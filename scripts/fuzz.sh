#!/usr/bin/env bash
# Runs every Go fuzz target for a short time (FUZZTIME, default 10s). A
# crasher is written by go test to the package's testdata/fuzz and fails
# the run: commit it as a regression case once fixed.
#
# go test -fuzz can also end with "context deadline exceeded" when the
# fuzz time runs out while it is minimising a new input; that is the
# fuzzing engine stopping, not a finding (no failing input is written), so
# it does not fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for f in $(git ls-files '*_test.go'); do
	d=$(dirname "$f")
	for t in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
		echo "== fuzz $d $t ($fuzztime)"
		if timeout 5m go test -run '^$' -fuzz "^$t\$" -fuzztime "$fuzztime" "./$d" >"$log" 2>&1; then
			tail -n 3 "$log"
			continue
		fi
		cat "$log"
		if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
			echo "== fuzz $d $t: the fuzzing engine stopped at the deadline (no failing input): not a finding"
			continue
		fi
		status=1
	done
done
exit $status
