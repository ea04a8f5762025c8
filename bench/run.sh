#!/usr/bin/env bash
# Runs every peer benchmark in bench/ one after another; each prints its own
# side-by-side figures and ratios. Results are recorded in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
for s in bench/*.sh; do
	[ "$(basename "$s")" = run.sh ] && continue
	echo "== $s"
	bash "$s"
done
