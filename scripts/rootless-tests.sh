#!/usr/bin/env bash
# Runs the rootless tests (Test*Rootless*) as an unprivileged user. The test
# binaries are compiled by the caller (root in CI) and run as user
# hbuild-test, which this script creates if needed, with
# HBUILD_TEST_ROOTLESS=1 so a test that finds itself skipped fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
user=hbuild-test
if [ "$(id -u)" -ne 0 ]; then
	echo "rootless-tests: run as root (it creates and switches to user $user)" >&2
	exit 1
fi
if ! id "$user" >/dev/null 2>&1; then
	useradd --create-home --shell /bin/bash "$user"
fi
# A subordinate id range lets newuidmap map more than one id.
grep -q "^$user:" /etc/subuid 2>/dev/null || echo "$user:200000:65536" >>/etc/subuid
grep -q "^$user:" /etc/subgid 2>/dev/null || echo "$user:200000:65536" >>/etc/subgid

work=$(mktemp -d /tmp/hbuild-rootless.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
# The tree must be readable by the user for testdata.
top=$(pwd)
pkgs=$(grep -l 'func Test[A-Za-z0-9_]*Rootless' $(git ls-files '*_test.go') | xargs -r -n1 dirname | sort -u)
if [ -z "$pkgs" ]; then
	echo "rootless-tests: no rootless tests found" >&2
	exit 1
fi
status=0
for d in $pkgs; do
	bin="$work/$(echo "$d" | tr / _).test"
	go test -c -o "$bin" "./$d"
	chmod 755 "$bin"
	echo "== rootless: $d"
	if ! (cd "$top/$d" && runuser -u "$user" -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME="/home/$user" CI="${CI:-}" HBUILD_TEST_ROOTLESS=1 XDG_RUNTIME_DIR="/tmp/hbuild-rootless-$user" \
		"$bin" -test.run 'Rootless' -test.v -test.timeout 30m); then
		status=1
	fi
done
exit $status
