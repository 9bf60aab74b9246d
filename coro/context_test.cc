// The switch preserves exactly the state the ABI calls callee-saved, in both
// directions, over millions of switches.
#include <gtest/gtest.h>

#include <cstdint>

#include "spindle/coro/coroutine.h"
#include "spindle/coro/register_probe.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace spindle {
namespace {

constexpr int kSwitches = 10'000'000;  // one-way switches in each ping-pong test

void suspend_current(void*) { Coroutine::current()->suspend(); }
void resume_coroutine(void* co) { static_cast<Coroutine*>(co)->resume(); }

TEST(ContextTest, CalleeSavedRegistersSurviveEverySwitch) {
  // Both sides load different patterns into every callee-saved register and then
  // switch: a register the switch fails to save shows the other side's pattern.
  std::uint64_t inside_mismatch = 0;
  int inside_rounds = 0;
  Coroutine co([&] {
    for (;;) {
      inside_mismatch |= spindle_probe_callee_saved(&suspend_current, nullptr, 0x1111u + inside_rounds);
      ++inside_rounds;
    }
  });
  std::uint64_t outside_mismatch = 0;
  for (int i = 0; i < kSwitches / 2; ++i) {
    outside_mismatch |= spindle_probe_callee_saved(&resume_coroutine, &co, 0x7777u + i);
  }
  EXPECT_EQ(outside_mismatch, 0u) << "registers clobbered across resume()";
  EXPECT_EQ(inside_mismatch, 0u) << "registers clobbered across suspend()";
  EXPECT_EQ(inside_rounds, kSwitches / 2 - 1);
}

#if defined(__x86_64__) && !defined(_WIN64)
TEST(ContextTest, ProbeDetectsAClobberedRegister) {
  // The probe itself must be able to fail: a callee that breaks the ABI by writing
  // rbx without telling the compiler (so nothing restores it) is caught.
  auto breaks_abi = +[](void*) { asm volatile("movq $42, %%rbx" ::: "memory"); };
  EXPECT_EQ(spindle_probe_callee_saved(breaks_abi, nullptr, 5) & 1u, 1u);
}
#endif

#if defined(__x86_64__)
std::uint32_t mxcsr_control() { return _mm_getcsr() & 0xffc0u; }
std::uint16_t x87_control_word() {
  std::uint16_t cw;
  asm volatile("fnstcw %0" : "=m"(cw));
  return cw;
}
void set_x87_control_word(std::uint16_t cw) { asm volatile("fldcw %0" : : "m"(cw)); }

TEST(ContextTest, FpControlStateIsPerCoroutine) {
  const std::uint32_t outside_mxcsr = mxcsr_control();
  const std::uint16_t outside_cw = x87_control_word();
  // Inside: round toward zero + flush-to-zero (MXCSR); single precision + round
  // down (x87). Outside keeps the defaults.
  const std::uint32_t inside_mxcsr = (outside_mxcsr & ~0x6000u) | 0x6000u | 0x8000u;
  const std::uint16_t inside_cw = static_cast<std::uint16_t>((outside_cw & ~0x0f00u) | 0x0400u);
  ASSERT_NE(inside_mxcsr, outside_mxcsr);
  ASSERT_NE(inside_cw, outside_cw);

  int inside_bad = 0;
  Coroutine co([&] {
    _mm_setcsr((_mm_getcsr() & 0x3fu) | inside_mxcsr);
    set_x87_control_word(inside_cw);
    for (;;) {
      Coroutine::current()->suspend();
      if (mxcsr_control() != inside_mxcsr || x87_control_word() != inside_cw) ++inside_bad;
    }
  });
  int outside_bad = 0;
  for (int i = 0; i < kSwitches / 2; ++i) {
    co.resume();
    if (mxcsr_control() != outside_mxcsr || x87_control_word() != outside_cw) ++outside_bad;
  }
  EXPECT_EQ(outside_bad, 0);
  EXPECT_EQ(inside_bad, 0);
}

#endif

}  // namespace
}  // namespace spindle
