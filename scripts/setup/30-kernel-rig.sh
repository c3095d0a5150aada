#!/usr/bin/env bash
# The kernel rig: Debian's own kernel booted in qemu with simulated GPIO (gpio-sim) and a
# simulated I2C bus (i2c-stub with a plain-transfer path), for test/kernel/rig.test.ts.
# Kernel image, headers and source come from Debian's archive (one matching version), are never
# committed, and everything is built under cache_dir, keyed by a hash of this recipe, so a
# change to the recipe rebuilds. When the rig for the current hash exists this does nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

RIG_SRC=test/support/kernel-rig
apt_need qemu-system-x86 build-essential bc cpio kmod

CACHE=$(cache_dir)
HASH=$(cat scripts/setup/30-kernel-rig.sh "$RIG_SRC/guest-init.sh" "$RIG_SRC/i2c-stub-plain.patch" | sha256sum | cut -c1-16)
OUT="$CACHE/kernel-rig-$HASH"
if [ -f "$OUT/ready" ]; then
  echo "$OUT" > "$CACHE/kernel-rig.current"
  exit 0
fi

exec 9> "$CACHE/kernel-rig.lock"
flock 9
[ -f "$OUT/ready" ] && { echo "$OUT" > "$CACHE/kernel-rig.current"; exit 0; }
start=$(date +%s)

# 1. One kernel version: the one linux-image-amd64 points at, with its headers and source.
if [ -z "${_PC_APT_UPDATED:-}" ]; then apt-get -o DPkg::Lock::Timeout=600 update -qq >&2; fi
KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
KVER=${KPKG#linux-image-}                                  # e.g. 6.1.0-56-amd64
KSER=$(echo "$KVER" | cut -d. -f1,2)                       # e.g. 6.1
KV=$(apt-cache policy "$KPKG" | awk '/Candidate:/{print $2}')
[ -n "$KPKG" ] && [ -n "$KV" ] || { echo "kernel-rig: cannot find linux-image-amd64 in apt" >&2; exit 1; }
DEBS="$CACHE/debs"
mkdir -p "$DEBS"
need=()
for p in "$KPKG" "linux-headers-$KVER" "linux-headers-${KVER%-amd64}-common" "linux-kbuild-$KSER" \
         "linux-source-$KSER=$KV" busybox-static; do
  name=${p%%=*}
  ls "$DEBS/${name}_"*.deb >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "kernel-rig: downloading ${need[*]}" >&2
  (cd "$DEBS" && apt-get download -qq "${need[@]}")
fi

# 2. Unpack into a temporary folder that is renamed into place at the end.
TMP="$OUT.tmp"
rm -rf "$TMP"
mkdir -p "$TMP"/{kimg,kh,bb,src,mod}
dpkg-deb --fsys-tarfile "$DEBS/${KPKG}_"*.deb | tar -x -C "$TMP/kimg" --wildcards './boot/vmlinuz-*' \
  "./lib/modules/$KVER/kernel/fs/*" "./lib/modules/$KVER/kernel/net/9p/*" \
  "./lib/modules/$KVER/kernel/drivers/virtio/*" "./lib/modules/$KVER/kernel/drivers/i2c/*"
for d in "$DEBS/linux-headers-$KVER"_*.deb "$DEBS/linux-headers-${KVER%-amd64}-common"_*.deb \
         "$DEBS/linux-kbuild-$KSER"_*.deb; do
  dpkg-deb -x "$d" "$TMP/kh"
done
# The headers package points at its -common sibling by absolute path; redirect it into $TMP.
sed -i "s#^include /usr/src/#include $TMP/kh/usr/src/#" "$TMP/kh/usr/src/linux-headers-$KVER/Makefile"
dpkg-deb -x "$DEBS"/busybox-static_*.deb "$TMP/bb"
dpkg-deb --fsys-tarfile "$DEBS/linux-source-${KSER}_"*.deb | tar -xO "./usr/src/linux-source-$KSER.tar.xz" \
  | tar -xJ -C "$TMP/src" --strip-components=1 "linux-source-$KSER/drivers/gpio/gpio-sim.c" \
    "linux-source-$KSER/drivers/gpio/gpiolib.h" "linux-source-$KSER/kernel/irq/irq_sim.c" \
    "linux-source-$KSER/drivers/i2c/i2c-stub.c"

# 3. Out-of-tree modules. Debian builds neither gpio-sim nor irq_sim; irq_sim becomes a module
#    of its own and calls generic_handle_irq() because irq_to_desc() is not exported to modules.
M="$TMP/mod"
cp "$TMP/src/drivers/gpio/gpio-sim.c" "$M/gpio-sim-main.c"
cp "$TMP/src/drivers/gpio/gpiolib.h" "$TMP/src/kernel/irq/irq_sim.c" "$M/"
cp "$TMP/src/drivers/i2c/i2c-stub.c" "$M/"
(cd "$M" && patch -s -p1 < "$OLDPWD/$RIG_SRC/i2c-stub-plain.patch" && mv i2c-stub.c i2c-stub-plain-main.c)
sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$M/irq_sim.c"
grep -q 'generic_handle_irq(irqnum)' "$M/irq_sim.c" || { echo "kernel-rig: irq_sim.c changed upstream" >&2; exit 1; }
printf '#include <linux/module.h>\nMODULE_LICENSE("GPL");\n' >> "$M/irq_sim.c"
cat > "$M/Kbuild" <<'KB'
obj-m += irq-sim.o gpio-sim.o i2c-stub-plain.o
irq-sim-y := irq_sim.o
gpio-sim-y := gpio-sim-main.o
i2c-stub-plain-y := i2c-stub-plain-main.o
KB
make -s -C "$TMP/kh/usr/src/linux-headers-$KVER" M="$M" -j"$(nproc)" modules 2>&1 | grep -v 'Skipping BTF' || true
for k in irq-sim gpio-sim i2c-stub-plain; do
  [ -f "$M/$k.ko" ] || { echo "kernel-rig: module $k did not build" >&2; exit 1; }
done

# 4. The initramfs: busybox, the modules in dependency order, and the init.
R="$TMP/root"
mkdir -p "$R"/{bin,sbin,proc,sys,dev,lib/modules}
cp "$TMP/bb/bin/busybox" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
K="$TMP/kimg/lib/modules/$KVER/kernel"
deps_of() { tr '\0' '\n' < "$1" | grep -a -m1 '^depends=' | cut -d= -f2; }
resolve() {
  local f d
  f=$(find "$K" "$M" \( -name "$1.ko" -o -name "$(echo "$1" | tr _ -).ko" \) | head -1)
  [ -n "$f" ] || { echo "kernel-rig: missing module $1" >&2; return 1; }
  for d in $(deps_of "$f" | tr , ' '); do resolve "$d"; done
  echo "$f"
}
: > "$R/modules.order"
for m in configfs i2c-dev i2c-stub-plain 9p 9pnet_virtio virtio_pci gpio-sim; do resolve "$m"; done \
  | awk '!seen[$0]++' | while read -r f; do
    cp "$f" "$R/lib/modules/"
    b=$(basename "$f")
    # The stub answers at 0x76 (a BME280's address) and 0x50 (an EEPROM's), with SMBus block
    # transfers enabled (the functionality mask is ANDed with everything the stub supports).
    if [ "$b" = i2c-stub-plain.ko ]; then echo "$b chip_addr=0x76,0x50 functionality=0xffffffff"; else echo "$b"; fi
  done > "$R/modules.order"
cp "$RIG_SRC/guest-init.sh" "$R/init"
chmod +x "$R/init"
(cd "$R" && find . | "$R/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) > "$TMP/initramfs.cpio.gz"

# 5. Keep only what the runner needs.
cp "$TMP/kimg/boot/vmlinuz-$KVER" "$TMP/vmlinuz"
printf '%s\n' "$KVER" > "$TMP/kernel-version"
printf '%s\n' "$(cat "$R/modules.order" | cut -d' ' -f1 | tr '\n' ' ')" > "$TMP/modules"
rm -rf "$TMP"/{kimg,kh,bb,src,root}
rm -rf "$OUT"
mv "$TMP" "$OUT"
touch "$OUT/ready"
echo "$OUT" > "$CACHE/kernel-rig.current"
echo "kernel-rig: kernel $KVER ready in $OUT ($(( $(date +%s) - start )) s)" >&2
