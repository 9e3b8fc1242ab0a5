#!/usr/bin/env bash
# Check prebuilds/linux-arm64 on an x64 Debian/Ubuntu machine: run it under
# qemu-user with Debian's arm64 Node.js (18.x, N-API 8) unpacked into a
# private sysroot. Nothing arm64 is installed on the host.
#
# Needs qemu-user, and arm64 package lists to download from:
#   dpkg --add-architecture arm64 && apt-get update
# (undo with `dpkg --remove-architecture arm64` once the sysroot exists).
#
# qemu-user implements neither io_uring nor native AIO, so the package runs on
# its thread-pool backend here: this proves the binary loads and its native
# helpers (probes, statx alignment, buffer addresses) work, not the rings.
#
# usage: scripts/qemu-arm64-check.sh [SYSROOT]   (default /var/tmp/direct-aio-arm64root)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sysroot="${1:-/var/tmp/direct-aio-arm64root}"
command -v qemu-aarch64 >/dev/null || { echo "qemu-aarch64 not found: apt-get install qemu-user" >&2; exit 1; }
[ -f "$root/prebuilds/linux-arm64/direct-aio.glibc.node" ] || { echo "no prebuilds/linux-arm64: npm run prebuildify-arm64" >&2; exit 1; }

if [ ! -x "$sysroot/usr/bin/node" ]; then
  mkdir -p "$sysroot/debs"
  (cd "$sysroot/debs" && apt-get download \
    nodejs:arm64 libnode108:arm64 libbrotli1:arm64 libc-ares2:arm64 libc6:arm64 libicu72:arm64 \
    libnghttp2-14:arm64 libssl3:arm64 libstdc++6:arm64 libuv1:arm64 zlib1g:arm64 libgcc-s1:arm64 \
    node-acorn node-cjs-module-lexer node-undici)
  for deb in "$sysroot"/debs/*.deb; do dpkg -x "$deb" "$sysroot"; done
fi

work="$(mktemp -d /var/tmp/direct-aio-arm64check.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/pkg/prebuilds" "$work/pkg/node_modules" "$work/data"
cp -r "$root/package.json" "$root/dist" "$work/pkg/"
cp -r "$root/prebuilds/linux-arm64" "$work/pkg/prebuilds/"
cp -r "$root/node_modules/node-gyp-build" "$work/pkg/node_modules/"
PREBUILDS_ONLY=1 qemu-aarch64 -L "$sysroot" "$sysroot/usr/bin/node" \
  "$root/scripts/prebuild-check.js" "$work/pkg" "$work/data"
