#!/usr/bin/env bash
# test/kernels/run.sh [RELEASE...]     (default: bullseye bookworm trixie)
#
# The kernel matrix (issue 10): boots Debian's generic kernels for bullseye
# (5.10), bookworm (6.1) and trixie (6.12) under qemu (TCG) and runs a subset
# of the suite inside each guest, against this checkout (build/ and dist/
# must be built). Prints a per-kernel table and exits non-zero on any test
# failure, guest timeout or boot failure.
#
# The guest shares the host root read-only over 9p and chroots into it, so the
# host's node and compilers run there as they are; the checkout (without
# node_modules, which is reached over 9p) is copied onto a fresh ext4 scratch
# disk mounted on /var/tmp, where the tests write their data. The guest loads
# loop and mounts cgroup v1 blkio, so the congested-device tests run there too.
# Each test file runs directly under `node --import tsx` (TAP on stdout), not
# through tap's runner, whose per-file start-up costs tens of seconds under TCG.
# Wall-clock bounds in tests are scaled by DIRECT_AIO_TEST_TIME_SCALE (10).
#
# Knobs (environment):
#   KERNELS_TESTS          test files to run (default: the subset below)
#   KERNELS_GUEST_TIMEOUT  seconds before a guest is killed (default 1200)
#   KERNELS_FILE_TIMEOUT   seconds per test file (default 600)
#   KERNELS_CAPS_TIMEOUT   seconds for the first capabilities() call (default 60)
#   KERNELS_RUN_AFTER_CAPS_FAILURE=1  run the files even if capabilities() hung
#   KERNELS_GUEST_CMD      run this command in the guest instead (debugging;
#                          output in .cache/kernels/last/RELEASE/results/cmd.log)
#   FUZZ_OPS (2000), TEARDOWN_EXITS (drain,exit), TEARDOWN_STRESS_SECONDS (3),
#   DIRECT_AIO_SHARED_SIGNAL_N (50000): the suite's own size knobs, reduced here
#   KERNELS_CACHE          download cache (default .cache/kernels)
#   KERNELS_KEEP=1         keep the work directory (scratch images, logs)
#   KERNELS_REFRESH=1      refresh the private apt lists now (else every 12 h)
#   KERNELS_SMP, KERNELS_MEM  guest CPUs (2) and memory (2G)
set -euo pipefail
START=$(date +%s)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/test/kernels"
CACHE=${KERNELS_CACHE:-$ROOT/.cache/kernels}
RELEASES=("$@")
[ ${#RELEASES[@]} -gt 0 ] || RELEASES=(bullseye bookworm trixie)
GUEST_TIMEOUT=${KERNELS_GUEST_TIMEOUT:-1200}
KERNELS_GUEST_CMD=${KERNELS_GUEST_CMD:-}
DEFAULT_TESTS="test/kernel.test.ts test/seccomp.test.ts test/smoke.test.ts test/file.test.ts test/doctor.test.ts test/cancel.test.ts test/fuzz.test.ts test/teardown.test.ts"
TESTS=${KERNELS_TESTS:-$DEFAULT_TESTS}

# --- tools -------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -e /usr/share/qemu/qboot.rom ] || need+=(qemu-system-data)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx insmod && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || need+=(busybox-static)
command -v mkfs.ext4 >/dev/null && command -v debugfs >/dev/null || need+=(e2fsprogs)
command -v xz >/dev/null || need+=(xz-utils)
command -v zstd >/dev/null || need+=(zstd)
command -v cpio >/dev/null || need+=(cpio)
command -v file >/dev/null || need+=(file)
if [ ${#need[@]} -gt 0 ]; then
  echo "kernels: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
NODE=$(command -v node)
[ -e "$ROOT/build/Release/direct_aio.node" ] || { echo "kernels: build the addon first (npx node-gyp rebuild)"; exit 1; }
[ -e "$ROOT/dist/index.js" ] || { echo "kernels: build dist/ first (npm run build)"; exit 1; }

# The guest sees the host's root, except where it mounts its own filesystems:
# node_modules (reached over 9p) and node must not live under those.
NODE_MODULES=$(readlink -f "$ROOT/node_modules")
for p in "$NODE_MODULES" "$(readlink -f "$NODE")"; do
  case "$p/" in
    /tmp/* | /var/tmp/* | /run/* | /mnt/* | /dev/* | /proc/* | /sys/*)
      echo "kernels: $p is under a directory the guest mounts over (/tmp, /var/tmp, /run, /mnt); use a checkout elsewhere"
      exit 1
      ;;
  esac
done

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/direct-aio-kernels-XXXXXX")
cleanup() {
  if [ "${KERNELS_KEEP:-0}" = 1 ]; then echo "kernels: work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# --- kernels -------------------------------------------------------------------
mkdir -p "$CACHE"
t0=$(date +%s)
declare -A KDIR
for rel in "${RELEASES[@]}"; do
  KDIR[$rel]=$(bash "$HERE/fetch.sh" "$rel" "$CACHE")
done
FETCH_S=$(($(date +%s) - t0))

# --- scratch disk contents: a copy of the checkout ------------------------------
STAGE="$WORK/stage"
mkdir -p "$STAGE/repo"
tar -C "$ROOT" --exclude=./node_modules --exclude=./.git --exclude=./.cache --exclude=./.tap \
  --exclude=./build --exclude=./prebuilds --exclude='./bench/results' -cf - . | tar -C "$STAGE/repo" -xf -
mkdir -p "$STAGE/repo/build/Release"
cp "$ROOT/build/Release/direct_aio.node" "$STAGE/repo/build/Release/"
if [ "${KERNELS_COPY_NODE_MODULES:-0}" = 1 ]; then
  cp -a "$ROOT/node_modules" "$STAGE/repo/node_modules"
else
  ln -s "$NODE_MODULES" "$STAGE/repo/node_modules"
fi
cat >"$STAGE/kernels.env" <<ENV
PATH='$(dirname "$NODE"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
TESTS='$TESTS'
CAPS_TIMEOUT=${KERNELS_CAPS_TIMEOUT:-60}
FILE_TIMEOUT=${KERNELS_FILE_TIMEOUT:-600}
GUEST_CMD=${KERNELS_GUEST_CMD@Q}
RUN_AFTER_CAPS_FAILURE=${KERNELS_RUN_AFTER_CAPS_FAILURE:-0}
export DIRECT_AIO_TEST_TIME_SCALE=${DIRECT_AIO_TEST_TIME_SCALE:-10}
export FUZZ_OPS=${FUZZ_OPS:-2000}
export DIRECT_AIO_SHARED_SIGNAL_N=${DIRECT_AIO_SHARED_SIGNAL_N:-50000}
export TEARDOWN_STRESS_SECONDS=${TEARDOWN_STRESS_SECONDS:-3}
export TEARDOWN_EXITS=${TEARDOWN_EXITS:-drain,exit}
ENV
chmod -R a+rX "$STAGE"

# --- one guest per kernel --------------------------------------------------------
# Load order: each module after the modules named in its depends= string;
# crc32c_generic before ext4 (ext4 asks the crypto API for crc32c, which is
# not a symbol dependency).
module_order() {
  local dir=$1 m
  local -A seen=()
  visit() {
    local m=$1 d
    [ -e "$dir/$m.ko" ] || return 0
    [ -z "${seen[$m]:-}" ] || return 0
    seen[$m]=1
    for d in $(tr '\0' '\n' <"$dir/$m.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do visit "$d"; done
    echo "$m"
  }
  for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
    netfs fscache 9pnet 9pnet_virtio 9p crc32c_generic crc16 mbcache jbd2 ext4 loop; do
    visit "$m"
  done
}

FAILED=0
for rel in "${RELEASES[@]}"; do
  k=${KDIR[$rel]}
  kver=$(cat "$k/version")
  G="$WORK/$rel"
  mkdir -p "$G/initramfs"/{bin,sbin,proc,sys,dev,tmp,newroot,modules}
  cp /bin/busybox "$G/initramfs/bin/busybox"
  cp "$HERE/init.sh" "$G/initramfs/init"
  chmod 755 "$G/initramfs/init"
  cp "$k"/modules/*.ko "$G/initramfs/modules/"
  module_order "$k/modules" >"$G/initramfs/modules/order"
  mknod -m 600 "$G/initramfs/dev/console" c 5 1
  (cd "$G/initramfs" && find . | cpio -o -H newc --quiet >"$G/initramfs.cpio")
  truncate -s 4G "$G/scratch.img"
  mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 -d "$STAGE" "$G/scratch.img"

  echo "kernels: $rel: booting $kver ($(cat "$k/package"))"
  : >"$G/progress.log"
  tail -n +1 -F "$G/progress.log" 2>/dev/null | sed -u "s/^/kernels: $rel: /" &
  tail_pid=$!
  g0=$(date +%s.%N)
  rc=0
  timeout -k 10 "$GUEST_TIMEOUT" qemu-system-x86_64 -nodefaults -no-user-config -nographic -no-reboot \
    -accel tcg,thread=multi -cpu max -m "${KERNELS_MEM:-2G}" -smp "${KERNELS_SMP:-2}" \
    -bios /usr/share/qemu/qboot.rom -kernel "$k/vmlinux" -initrd "$G/initramfs.cpio" \
    -append "console=ttyS0 panic=-1 mitigations=off rdinit=/init" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    -drive "file=$G/scratch.img,if=virtio,format=raw,cache=none,aio=threads" \
    -serial "file:$G/console.log" -serial "file:$G/progress.log" \
    -monitor none </dev/null >"$G/qemu.log" 2>&1 || rc=$?
  g1=$(date +%s.%N)
  sleep 0.3
  kill "$tail_pid" 2>/dev/null || true
  wait "$tail_pid" 2>/dev/null || true
  debugfs -R "rdump /results $G" "$G/scratch.img" >/dev/null 2>&1 || true
  mkdir -p "$G/results"
  {
    echo "release=$rel"
    echo "package=$(cat "$k/package")"
    echo "kver=$kver"
    echo "qemu_rc=$rc"
    echo "wall=$(awk "BEGIN { printf \"%.1f\", $g1 - $g0 }")"
  } >"$G/results/host.env"
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "kernels: $rel: TIMEOUT: the guest was killed after ${GUEST_TIMEOUT} s"
  elif [ "$rc" != 0 ]; then
    echo "kernels: $rel: qemu exited with $rc:"; tail -5 "$G/qemu.log"
  fi
  if ! grep -q '^guest-exit 0' "$G/progress.log"; then
    echo "kernels: $rel: last console lines:"; tail -15 "$G/console.log" | sed 's/^/    /'
  fi
done

# Keep the logs of the last run (small) next to the downloads.
rm -rf "$CACHE/last"
mkdir -p "$CACHE/last"
for rel in "${RELEASES[@]}"; do
  mkdir -p "$CACHE/last/$rel"
  cp -r "$WORK/$rel/results" "$WORK/$rel"/*.log "$CACHE/last/$rel/" 2>/dev/null || true
done

# --- the table ---------------------------------------------------------------------
status=0
"$NODE" "$HERE/report.js" "$WORK" "${RELEASES[@]}" || status=$?
echo "kernels: downloads/cache ${FETCH_S} s, total $(($(date +%s) - START)) s"
if [ $status -ne 0 ]; then
  echo "kernels: FAIL (guest logs and TAP output: $CACHE/last/)"
fi
exit $status
