#!/usr/bin/env bash
# Test runner for --config=aarch64 (.bazelrc: --run_under=//toolchain:qemu_test):
# runs an aarch64 test binary under qemu-aarch64 (binfmt_misc is not mounted here,
# so qemu is called explicitly). A shell test (examples/*_test.sh) runs as itself;
# the aarch64 programs it starts go through this script again, named by
# SPINDLE_TEST_RUNNER.
set -euo pipefail
# Bazel names an sh_test's executable without the .sh: a script is told by its "#!".
if [[ "$1" == *.sh || "$(head -c 2 "$1" 2>/dev/null)" == "#!" ]]; then
  SPINDLE_TEST_RUNNER="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
  export SPINDLE_TEST_RUNNER
  exec bash "$@"
fi
exec /usr/bin/qemu-aarch64 "$@"
