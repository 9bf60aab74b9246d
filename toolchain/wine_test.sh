#!/usr/bin/env bash
# Test runner for --config=mingw (.bazelrc: --run_under=//toolchain:wine_test):
# runs a Windows test binary under /usr/lib/wine/wine64, after three fix-ups (and
# runs shell tests directly, see the end).
#
# - The wine prefix (WINEPREFIX, under /tmp) is created once, under a lock.
# - Crashes must end the test, not start winedbg (which waits for a debugger that
#   never comes): winedbg is disabled.
# - Bazel names gtest's XML report by a Unix path, which a Windows program takes
#   for a relative one; it gets the Z:\ (whole Unix filesystem) form instead.
#
# Every wine process of a prefix talks to one wineserver, started by the first of
# them. Bazel ends a test by killing all its processes, the wineserver it started
# included (the sandbox's PID namespace, or the local process-wrapper, a
# subreaper), so tests that ran beside it and used that server crash or hang.
# Hence test:mingw --local_test_jobs=1 in .bazelrc: one test at a time, each with
# a server of its own.
set -euo pipefail

wine=/usr/lib/wine/wine64
: "${WINEPREFIX:?set by .bazelrc (test:mingw --test_env=WINEPREFIX=...)}"
export WINEPREFIX
export WINEDEBUG="${WINEDEBUG:--all}"
export WINEDLLOVERRIDES="winedbg.exe=d${WINEDLLOVERRIDES:+;$WINEDLLOVERRIDES}"
# Fontconfig (loaded by wine) wants a writable cache; HOME may not be one here.
export XDG_CACHE_HOME="${WINEPREFIX}/xdg-cache"

if [[ ! -f "${WINEPREFIX}/system.reg" ]]; then
  mkdir -p "$(dirname "${WINEPREFIX}")"
  (
    flock 9
    if [[ ! -f "${WINEPREFIX}/system.reg" ]]; then
      "$wine" wineboot --init >/dev/null 2>&1 || true
    fi
  ) 9>"${WINEPREFIX}.lock"
fi

if [[ -n "${XML_OUTPUT_FILE:-}" && "${XML_OUTPUT_FILE}" == /* ]]; then
  XML_OUTPUT_FILE="Z:${XML_OUTPUT_FILE//\//\\}"
  export XML_OUTPUT_FILE
fi

# A shell test (examples/*_test.sh) runs as itself; the Windows programs it starts
# go through this script again, named by SPINDLE_TEST_RUNNER.
# Bazel names an sh_test's executable without the .sh: a script is told by its "#!".
if [[ "$1" == *.sh || "$(head -c 2 "$1" 2>/dev/null)" == "#!" ]]; then
  SPINDLE_TEST_RUNNER="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
  export SPINDLE_TEST_RUNNER
  exec bash "$@"
fi
# Scripts name programs without the .exe the mingw linker adds.
program=$1
shift
[[ ! -e "$program" && -e "$program.exe" ]] && program="$program.exe"
exec "$wine" "$program" "$@"
