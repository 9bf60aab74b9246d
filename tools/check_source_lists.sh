#!/usr/bin/env bash
# The CMake build (CMakeLists.txt) and the Bazel build (BUILD.bazel files) list the
# same sources, headers and tests: every file that a rule of a runtime package
# (the root, and each top-level package but examples, bench, third_party, toolchain
# and tools) names, the CMake lists must name, and the other way round. Platform
# branches count on both sides (Bazel: every select() branch; CMake: every list).
# Run by .ci/run; exits non-zero and prints the difference on drift.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

packages=("//:all")
for build in */BUILD.bazel; do
  pkg=${build%/BUILD.bazel}
  case "$pkg" in examples | bench | third_party | toolchain | tools | bazel-*) continue ;; esac
  packages+=("//${pkg}:all")
done
expr=$(IFS=+; echo "${packages[*]}")
./bazelw query --noshow_progress "kind('source file', deps(${expr// /}, 1))" 2>/dev/null |
  grep -E '^//' | grep -vE '\.(bzl|sh)$' | sed -E 's|^//:||; s|^//([^:]*):|\1/|' | sort -u >"$tmp/bazel"

cmake -S "$root" -B "$tmp/cmake" -DSPINDLE_BUILD_TESTS=OFF >/dev/null
sort -u "$tmp/cmake/spindle_sources.txt" | grep -v '^$' >"$tmp/cmake.txt"

if diff -u --label bazel "$tmp/bazel" --label cmake "$tmp/cmake.txt" >"$tmp/diff"; then
  echo "check_source_lists: Bazel and CMake list the same $(wc -l <"$tmp/bazel") files"
else
  echo "check_source_lists: the builds differ (- only in Bazel, + only in CMake):"
  grep -E '^[-+][^-+]' "$tmp/diff"
  exit 1
fi
