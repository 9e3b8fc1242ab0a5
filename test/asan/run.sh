#!/usr/bin/env bash
# npm run test:asan
#
# Builds the addon with AddressSanitizer and UndefinedBehaviorSanitizer in a
# copy of the sources (never in ./build), compiles the TypeScript there, and
# runs the integrity, fuzz (reduced), GC and teardown tests against that
# build with libasan preloaded into node. Fails on any sanitizer report.
#
#   ASAN_TESTS="test/gc.test.ts ..."   run other tests instead
#   ASAN_KEEP=1                        keep the work directory
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/direct-aio-asan-XXXXXX")
cleanup() {
  if [ "${ASAN_KEEP:-0}" = 1 ]; then echo "asan: work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

start=$(date +%s)
echo "asan: copying sources to $WORK"
cd "$ROOT"
cp -r src lib cli binding.gyp package.json tsconfig.json tsconfig.cli.json test "$WORK/"
ln -s "$ROOT/node_modules" "$WORK/node_modules"
cd "$WORK"

echo "asan: building the addon with -fsanitize=address,undefined"
DIRECT_AIO_SANITIZE=1 npx node-gyp rebuild -j 2 >"$WORK/build.log" 2>&1 || {
  tail -40 "$WORK/build.log"
  echo "asan: build failed"
  exit 1
}
asan_syms=$(nm -D build/Release/direct_aio.node | grep -c __asan_ || true)
if [ "$asan_syms" -eq 0 ]; then
  echo "asan: the addon was not built with AddressSanitizer (binding.gyp DIRECT_AIO_SANITIZE condition?)"
  exit 1
fi
npx tsc -p tsconfig.json

LIBASAN=$(gcc -print-file-name=libasan.so)
if [ ! -e "$LIBASAN" ]; then
  echo "asan: libasan.so not found (gcc -print-file-name=libasan.so gave '$LIBASAN')"
  exit 1
fi

# Tests: integrity (file I/O round trips), fuzz (reduced), GC, teardown.
if [ -n "${ASAN_TESTS:-}" ]; then
  tests=($ASAN_TESTS)
else
  tests=()
  for f in test/integrity.test.ts test/smoke.test.ts test/fuzz.test.ts test/gc.test.ts test/teardown.test.ts; do
    [ -e "$f" ] && tests+=("$f")
  done
fi

REPORTS="$WORK/reports"
mkdir -p "$REPORTS"
# node itself leaks at exit by design: no leak detection. Every report goes to
# a file as well as stderr, so a report in a grandchild process is not lost.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:log_path=$REPORTS/asan:log_exe_name=1:print_summary=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$REPORTS/ubsan"
# Smaller runs: everything is several times slower under the sanitizers. The
# teardown matrix keeps every step but only the native ring backends and the
# two exits that tear down with I/O live (let the loop drain; process.exit()).
export FUZZ_OPS="${FUZZ_OPS:-1500}"
export GC_WRITES="${GC_WRITES:-64}"
export TEARDOWN_STRESS_SECONDS="${TEARDOWN_STRESS_SECONDS:-3}"
export TEARDOWN_EXITS="${TEARDOWN_EXITS:-drain,exit}"
export TEARDOWN_BACKENDS="${TEARDOWN_BACKENDS:-io_uring,libaio}"
export LEAK_REQUESTS="${LEAK_REQUESTS:-20000}"

echo "asan: running ${tests[*]} with LD_PRELOAD=$LIBASAN"
status=0
LD_PRELOAD="$LIBASAN" npx tap --disable-coverage --timeout 200 "${tests[@]}" >"$WORK/tap.log" 2>&1 || status=$?
grep -E '^# \{|^(not )?ok [0-9]+ - ' "$WORK/tap.log" || true

found=0
for f in "$REPORTS"/*; do
  [ -e "$f" ] || continue
  found=1
  echo "asan: sanitizer report $f:"
  head -60 "$f"
done
# Reports that reached stderr (the patterns are anchored so that test source
# quoted in TAP diagnostics does not match).
PAT='^==[0-9]+==ERROR: (Address|Leak)Sanitizer|\.(cc|h|c|cpp):[0-9]+:[0-9]+: runtime error:|^SUMMARY: (Address|UndefinedBehavior)Sanitizer'
if grep -qE "$PAT" "$WORK/tap.log"; then
  found=1
  echo "asan: sanitizer output in the test log:"
  grep -nE -A20 "$PAT" "$WORK/tap.log" | head -80
fi

elapsed=$(($(date +%s) - start))
if [ $found -ne 0 ]; then
  echo "asan: FAIL: sanitizer reports (${elapsed} s)"
  exit 1
fi
if [ $status -ne 0 ]; then
  echo "asan: FAIL: tests failed under the sanitizers, no sanitizer report (${elapsed} s); failures:"
  grep -E '^\s+not ok' "$WORK/tap.log" | head -40
  exit $status
fi
echo "asan: OK: no sanitizer reports, all tests passed (${elapsed} s)"
