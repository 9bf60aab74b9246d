// Test support: gtest death tests that work on every ABI the coro tests run on.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>

#if defined(_WIN32)
#include <windows.h>
#endif

// One or more digits, in the regex dialect gtest uses on this platform: its own
// "simple" one on Windows (no bracket expressions), POSIX extended elsewhere
// (no \d).
#if GTEST_USES_SIMPLE_RE
#define SPINDLE_RE_DIGITS "\\d+"
#else
#define SPINDLE_RE_DIGITS "[0-9]+"
#endif

namespace spindle::detail {

// Death tests re-execute the test binary ("threadsafe" style) so that the dying
// child starts from a clean process; on Windows that is the only style there is.
// Under qemu-user it cannot work: the emulated execve goes to the host kernel,
// which refuses an aarch64 ELF ("Exec format error") unless binfmt_misc is set
// up. There .bazelrc (test:aarch64) sets SPINDLE_DEATH_TEST_STYLE=fast, and the
// child is forked only, which is sound because these tests have started no
// threads when they die.
inline void set_death_test_style() {
  const char* style = std::getenv("SPINDLE_DEATH_TEST_STYLE");
  GTEST_FLAG_SET(death_test_style, style != nullptr && *style != '\0' ? style : "threadsafe");
}

// Called inside a death test's statement that dies of an unhandled exception (a
// fault): makes the process end at once. Without it Windows hands the crash to
// the registered debugger; under wine that is winedbg, which
// toolchain/wine_test.sh disables, and wine then still hangs now and then. No-op
// elsewhere: a fault is a plain signal death.
inline void end_process_on_unhandled_exception() {
#if defined(_WIN32)
  SetUnhandledExceptionFilter([](EXCEPTION_POINTERS*) -> LONG { return EXCEPTION_EXECUTE_HANDLER; });
#endif
}

}  // namespace spindle::detail
