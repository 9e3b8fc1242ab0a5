#!/usr/bin/env bash
# test/kernels/fetch.sh RELEASE CACHE_DIR
#
# Downloads Debian's current generic amd64 kernel for RELEASE (bullseye,
# bookworm, trixie) with a private apt configuration (its own sources list,
# lists and cache under CACHE_DIR/apt-RELEASE; the machine's apt setup is not
# touched), and prepares CACHE_DIR/RELEASE/:
#   vmlinux   the uncompressed ELF kernel (PVH entry), pulled out of the bzImage
#   modules/  the modules the guest needs, decompressed (.ko)
#   version   the kernel release string (uname -r)
# The package name is resolved from the linux-image-amd64 metapackage, so a
# Debian update is picked up at the next run; an unchanged package is reused.
set -euo pipefail
REL=$1
mkdir -p "$2"
CACHE=$(cd "$2" && pwd)
ARCHIVE=${KERNELS_MIRROR:-http://deb.debian.org/debian}

APTDIR="$CACHE/apt-$REL"
mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/parts" "$APTDIR/debs"
: >"$APTDIR/preferences"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $ARCHIVE $REL main" >"$APTDIR/sources.list"
# Kernel updates land in the security suite between point releases.
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${KERNELS_SECURITY_MIRROR:-http://deb.debian.org/debian-security} $REL-security main" >>"$APTDIR/sources.list"
APT=(-o "Dir::Etc::SourceList=$APTDIR/sources.list" -o "Dir::Etc::SourceParts=$APTDIR/parts"
  -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache"
  -o "Dir::Etc::Preferences=$APTDIR/preferences" -o "Dir::Etc::PreferencesParts=$APTDIR/parts"
  -o "APT::Architecture=amd64" -o "Acquire::Languages=none" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")

# Refresh the lists at most once every 12 hours (KERNELS_REFRESH=1 forces it).
stamp="$APTDIR/updated"
if [ "${KERNELS_REFRESH:-0}" = 1 ] || [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mmin +720)" ]; then
  apt-get "${APT[@]}" -qq update >&2
  touch "$stamp"
fi

# linux-image-amd64 depends on exactly one linux-image-<abi>-amd64 package.
PKG=$(apt-cache "${APT[@]}" depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$PKG" ] || { echo "fetch: no linux-image-*-amd64 in $REL's linux-image-amd64" >&2; exit 1; }
VER=$(apt-cache "${APT[@]}" policy "$PKG" | awk '/Candidate:/ {print $2}')
OUT="$CACHE/$REL"
if [ -e "$OUT/package" ] && [ "$(cat "$OUT/package")" = "$PKG $VER" ] && [ -s "$OUT/vmlinux" ]; then
  echo "$OUT"
  exit 0
fi
echo "fetch: $REL: downloading $PKG $VER" >&2
(cd "$APTDIR/debs" && rm -f ./*.deb && apt-get "${APT[@]}" -qq download "$PKG" >&2)
DEB=$(ls "$APTDIR"/debs/*.deb)

rm -rf "$OUT" "$OUT.tmp"
mkdir -p "$OUT.tmp/pkg" "$OUT.tmp/modules"
dpkg -x "$DEB" "$OUT.tmp/pkg"
MODBASE="$OUT.tmp/pkg/lib/modules"
[ -d "$MODBASE" ] || MODBASE="$OUT.tmp/pkg/usr/lib/modules"
KVER=$(ls "$MODBASE")
MODROOT="$MODBASE/$KVER"
BZ="$OUT.tmp/pkg/boot/vmlinuz-$KVER"
cp "$OUT.tmp/pkg/boot/config-$KVER" "$OUT.tmp/config"

# The bzImage carries the kernel as an xz or zstd stream: find the magic and
# decompress from there until the output is an ELF (trailing data after the
# stream makes the decompressor complain; the output is complete by then).
extract() {
  local magic=$1 tool=$2 off
  for off in $(LC_ALL=C grep -aboP "$magic" "$BZ" | cut -d: -f1); do
    tail -c +$((off + 1)) "$BZ" | $tool -dc 2>/dev/null >"$OUT.tmp/vmlinux" || true
    if [ "$(head -c 4 "$OUT.tmp/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ]; then return 0; fi
  done
  return 1
}
extract '\xFD7zXZ\x00' xz || extract '\x28\xB5\x2F\xFD' zstd || { echo "fetch: no ELF kernel found inside $BZ" >&2; exit 1; }

# Modules: every .ko/.ko.xz/.ko.zst the guest may want, flattened and
# decompressed; init.sh resolves the load order from their depends= strings.
for m in virtio_ring virtio virtio_pci virtio_pci_modern_dev virtio_pci_legacy_dev virtio_blk \
  9pnet 9pnet_virtio netfs fscache 9p crc32c_generic crc32c-generic mbcache jbd2 crc16 ext4 loop; do
  while IFS= read -r f; do
    case "$f" in
      *.ko) cp "$f" "$OUT.tmp/modules/" ;;
      *.ko.xz) xz -dc "$f" >"$OUT.tmp/modules/$(basename "$f" .xz)" ;;
      *.ko.zst) zstd -qdc "$f" >"$OUT.tmp/modules/$(basename "$f" .zst)" ;;
    esac
  done < <(find "$MODROOT" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst")
done
echo "$KVER" >"$OUT.tmp/version"
rm -rf "$OUT.tmp/pkg"
echo "$PKG $VER" >"$OUT.tmp/package"
mv "$OUT.tmp" "$OUT"
echo "$OUT"
