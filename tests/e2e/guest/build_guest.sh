#!/usr/bin/env bash
# Builds the tiny guest the end-to-end tests boot under QEMU software emulation:
#   OUT/vmlinux             Debian's kernel, uncompressed (its PVH entry boots in ~5 s instead of
#                           ~10 s for the compressed bzImage)
#   OUT/initramfs.cpio.gz   busybox-static + the virtio modules; /init prints GUEST-READY on the
#                           serial console and serves "hello from NAME gen=N" over HTTP on port 80
#                           (unless the kernel command line says "noservice")
#   OUT/base.raw            a 1 MiB raw disk whose first 16 bytes count the guest's boots
# The kernel package is downloaded from Debian's archive and unpacked, never installed.
# Idempotent: does nothing when OUT already holds a complete guest. Concurrent callers are
# serialised with a lock in OUT.
#
#   build_guest.sh OUT
set -euo pipefail
OUT=${1:?usage: build_guest.sh OUT}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec 9> "$OUT/.lock"
flock 9
# The guest's own version: bumped when /init changes, so an older build is replaced.
GUEST_VERSION=2
[ -f "$OUT/.complete" ] && [ "$(head -1 "$OUT/.complete")" = "guest-v$GUEST_VERSION" ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The kernel: the version Debian's linux-image-amd64 currently points at.
kernel_package() {
  apt-cache depends linux-image-amd64 2> /dev/null |
    sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1
}
kpkg=$(kernel_package)
if [ -z "$kpkg" ]; then
  # A machine whose package lists were never fetched.
  apt-get update -qq > /dev/null
  kpkg=$(kernel_package)
fi
if [ -z "$kpkg" ]; then
  echo "build_guest: cannot find the kernel package behind linux-image-amd64 (apt-get update?)" >&2
  exit 1
fi
(cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$kpkg" > /dev/null)
dpkg-deb -x "$work"/linux-image-*.deb "$work/kroot"
kver=$(ls "$work/kroot/boot" | sed -n 's/^vmlinuz-//p' | sort -V | tail -1)
modules=$work/kroot/lib/modules/$kver

# vmlinux: the XZ stream inside the bzImage, decompressed. xz complains about the trailing
# bytes after the stream; the ELF it produced is complete, which readelf checks below.
offset=$(grep -abo $'\xfd7zXZ\x00' "$work/kroot/boot/vmlinuz-$kver" | head -1 | cut -d: -f1)
tail -c +$((offset + 1)) "$work/kroot/boot/vmlinuz-$kver" | xz -dc 2> /dev/null > "$work/vmlinux" || true
if ! readelf -n "$work/vmlinux" 2> /dev/null | grep -q Xen; then
  echo "build_guest: could not extract an ELF vmlinux with a PVH note from $kpkg" >&2
  exit 1
fi

root=$work/root
mkdir -p "$root"/{bin,proc,sys,dev,tmp,www,mods}
cp /bin/busybox "$root/bin/busybox"
for applet in sh mount cat insmod ip httpd sleep dd tr printf sed grep cut; do
  ln -s busybox "$root/bin/$applet"
done
# Load order matters: each module's dependencies first.
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev \
         drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/core/failover \
         drivers/net/net_failover drivers/net/virtio_net drivers/block/virtio_blk; do
  cp "$modules/kernel/$m.ko" "$root/mods/"
done
cat > "$root/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net virtio_blk; do
  insmod /mods/$m.ko 2> /dev/ttyS0
done
ip link set lo up
# QEMU user-mode networking: 10.0.2.0/24, gateway 10.0.2.2.
ip link set eth0 up 2> /dev/null && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
name=$(sed -n 's/.*vmname=\([^ ]*\).*/\1/p' /proc/cmdline)
gen=none
if [ -b /dev/vda ]; then
  # The disk's boot counter: read, then write it back incremented and synced.
  gen=$(dd if=/dev/vda bs=16 count=1 2> /dev/null | tr -dc '0-9')
  [ -z "$gen" ] && gen=0
  printf '%-16s' $((gen + 1)) | dd of=/dev/vda bs=16 count=1 conv=notrunc,fsync 2> /dev/null
fi
echo "hello from $name gen=$gen" > /www/index.html
# "noservice" on the kernel command line: a broken update whose service never comes up.
grep -q noservice /proc/cmdline || httpd -p 80 -h /www
echo "GUEST-READY name=$name disk-gen=$gen uptime=$(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0
while true; do sleep 3600; done
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.cpio.gz"
truncate -s 1M "$work/base.raw"

mv "$work/vmlinux" "$work/initramfs.cpio.gz" "$work/base.raw" "$OUT/"
printf 'guest-v%s\n%s\n' "$GUEST_VERSION" "$kpkg" > "$OUT/.complete"
