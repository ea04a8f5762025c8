#!/usr/bin/env bash
# Installs what hbuild's build, tests and demo need, idempotently, on
# Debian/Ubuntu: apt packages, Go modules, staticcheck, and the zc.buildout
# Python 3.11 fix used to regenerate the profile goldens.
set -euo pipefail

pkgs=(
	build-essential git ca-certificates xz-utils zstd bzip2 lzip unzip pigz
	uidmap mmdebstrap debian-archive-keyring
	python3-zc.buildout
	skopeo umoci runc containerd docker-registry podman
	patchelf pax-utils python3-pyelftools bubblewrap hyperfine
	zlib1g-dev libxml2-dev libssl-dev openssh-client openssh-server
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "deps: installing ${missing[*]}" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The packaged services (docker-registry, containerd, sshd) are left as they
# are: the tests start their own on free loopback ports and private sockets.

# zc.buildout 2.13 on Python 3.11: MutableMapping moved to collections.abc.
bo=/usr/lib/python3/dist-packages/zc/buildout/buildout.py
if [ -f "$bo" ] && grep -q 'from collections import MutableMapping' "$bo"; then
	sed -i 's/from collections import MutableMapping/from collections.abc import MutableMapping/' "$bo"
fi

go mod download
gobin=$(go env GOPATH)/bin
if [ ! -x "$gobin/staticcheck" ]; then
	echo "deps: installing staticcheck" >&2
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
