#!/usr/bin/env bash
# The public headers compile warning-free under the flags users build with:
# tools/public_api.cc (every public header, every public type used) is compiled
# with -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror by g++ and clang++.
# The headers are reached as <spindle/<layer>/<file>.h>, as installed.
# Then each compiler checks that spindle's headers and Boost.Fiber's can be
# included together, in either order (Boost.Fiber defines function-like macros
# such as cpu_relax(), which once broke a spindle header).
# Run by .ci/run and by CTest (CMakeLists.txt). Exits non-zero on any warning.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ln -s "$root" "$tmp/spindle"
flags=(-std=c++20 -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror -fsyntax-only -I"$tmp")
status=0
for cxx in "${@:-g++ clang++}"; do
  for c in $cxx; do
    if ! command -v "$c" >/dev/null; then
      echo "check_public_headers: $c not found" >&2
      status=1
      continue
    fi
    if "$c" "${flags[@]}" "$root/tools/public_api.cc"; then
      echo "check_public_headers: $c: no warnings"
    else
      echo "check_public_headers: $c: FAILED" >&2
      status=1
    fi
  done
done
printf '#include <boost/fiber/all.hpp>\n#include <spindle/spindle.h>\nint main() {}\n' >"$tmp/boost_first.cc"
printf '#include <spindle/spindle.h>\n#include <boost/fiber/all.hpp>\nint main() {}\n' >"$tmp/spindle_first.cc"
for cxx in "${@:-g++ clang++}"; do
  for c in $cxx; do
    command -v "$c" >/dev/null || continue
    for f in boost_first spindle_first; do
      if "$c" -std=c++20 -fsyntax-only -I"$tmp" "$tmp/$f.cc"; then
        echo "check_public_headers: $c: beside Boost.Fiber ($f): ok"
      else
        echo "check_public_headers: $c: beside Boost.Fiber ($f): FAILED" >&2
        status=1
      fi
    done
  done
done
exit $status
