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

# The suite, one tap run; tap's per-file timeout plus an outer bound.
t0=$(now)
# shellcheck disable=SC2086
timeout -k 10 "$SUITE_TIMEOUT" node node_modules/.bin/tap --reporter=tap --disable-coverage --timeout "$FILE_TIMEOUT" $TESTS >"$RES/tap.log" 2>&1 &
tap_pid=$!
# Stream the per-file verdicts while it runs.
tail -n +1 -F --pid=$tap_pid "$RES/tap.log" 2>/dev/null | grep --line-buffered -E '^(not )?ok [0-9]+ ' >/dev/ttyS1 &
wait $tap_pid
echo $? >"$RES/tap.rc"
echo "$t0 $(now)" >"$RES/tap.time"
sleep 0.5
out "tap rc=$(cat "$RES/tap.rc")"
exit 0
