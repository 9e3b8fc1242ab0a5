#!/usr/bin/env bash
# Runs inside the guest, chrooted into the host's root (read-only over 9p),
# from the repository copy on the scratch disk (/var/tmp/repo). Writes its
# results to /var/tmp/results (read by run.sh after poweroff) and one-line
# progress to the second serial port.
set -u
RES=/var/tmp/results
mkdir -p "$RES"
out() { echo "$*" >/dev/ttyS1; }
# shellcheck source=/dev/null
. /var/tmp/kernels.env
export PATH HOME=/tmp/home TMPDIR=/tmp DIRECT_AIO_TEST_DIR=/var/tmp CI=1
mkdir -p "$HOME"
cd /var/tmp/repo || exit 98
uname -r >"$RES/uname"
now() { cut -d' ' -f1 /proc/uptime; }

# Debugging: KERNELS_GUEST_CMD runs one command instead of the suite.
if [ -n "${GUEST_CMD:-}" ]; then
  bash -c "$GUEST_CMD" >"$RES/cmd.log" 2>&1
  echo "cmd rc=$?" >/dev/ttyS1
  exit 0
fi

# capabilities() first, bounded: it hangs on 5.6-5.18 before the defect-2 fix.
t0=$(now)
timeout -k 5 "$CAPS_TIMEOUT" node -e '
  const d = require("./dist/index.js")
  const caps = d.capabilities()
  let auto
  try { const c = new d.IoContext(); auto = { backend: c.backend }; void c.close() } catch (e) { auto = { error: e.message } }
  process.stdout.write(JSON.stringify({ caps, auto }))' >"$RES/caps.json" 2>"$RES/caps.err"
echo $? >"$RES/caps.rc"
out "capabilities rc=$(cat "$RES/caps.rc") in $(awk "BEGIN { print $(now) - $t0 }") s"

if [ "$(cat "$RES/caps.rc")" != 0 ] && [ "${RUN_AFTER_CAPS_FAILURE:-0}" != 1 ]; then
  out "suite not run: capabilities() did not return (rc $(cat "$RES/caps.rc"))"
  exit 1
fi

# The suite: each test file run directly by node with tsx, as tap's runner
# would run it but without the runner's own start-up (tap loads its runner,
# mock and processinfo hooks per file, several seconds each under TCG). The
# files print TAP; TAP_TIMEOUT is tap's own per-file timeout, `timeout` the
# bound for a process whose event loop is blocked.
mkdir -p "$RES/files"
export TAP_TIMEOUT=$FILE_TIMEOUT
for f in $TESTS; do
  b=$(basename "$f" .ts)
  t0=$(now)
  timeout -k 10 $((FILE_TIMEOUT + 30)) node --import tsx "$f" >"$RES/files/$b.tap" 2>"$RES/files/$b.err"
  rc=$?
  t1=$(now)
  echo "$rc" >"$RES/files/$b.rc"
  echo "$t0 $t1" >"$RES/files/$b.time"
  summary=$(grep -E '^# \{' "$RES/files/$b.tap" | tail -1)
  out "file $f rc=$rc $(awk "BEGIN { printf \"%.0f\", $t1 - $t0 }") s ${summary#\# }"
done
exit 0
