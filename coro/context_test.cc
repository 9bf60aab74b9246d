// The switch preserves exactly the state the ABI calls callee-saved, in both
// directions, over millions of switches.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>

#include "spindle/coro/coroutine.h"
#include "spindle/coro/register_probe.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif
#if defined(_WIN64)
#include <windows.h>

#include "spindle/coro/stack_platform.h"
#endif

namespace spindle {
namespace {

// One-way switches in each ping-pong test: 10M, or SPINDLE_CONTEXT_SWITCHES for a
// slow emulator (not needed so far: qemu-aarch64 runs the 10M in about 5 s).
const int kSwitches = [] {
  const char* env = std::getenv("SPINDLE_CONTEXT_SWITCHES");
  return env != nullptr ? std::atoi(env) : 10'000'000;
}();

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

// The probe itself must be able to fail: a callee that breaks the ABI by writing a
// callee-saved register without telling the compiler (so nothing restores it) is
// caught. One general-purpose and, where the ABI preserves any, one vector
// register per ABI; the bit numbers are listed in coro/arch/probe_<abi>.S.
#if defined(__x86_64__) && !defined(_WIN64)
TEST(ContextTest, ProbeDetectsAClobberedRegister) {
  auto breaks_rbx = +[](void*) { asm volatile("movq $42, %%rbx" ::: "memory"); };
  EXPECT_EQ(spindle_probe_callee_saved(breaks_rbx, nullptr, 5), 1u << 0);
}
#elif defined(_WIN64)
TEST(ContextTest, ProbeDetectsAClobberedRegister) {
  auto breaks_rsi = +[](void*) { asm volatile("movq $42, %%rsi" ::: "memory"); };
  auto breaks_xmm15_high = +[](void*) {
    asm volatile("pxor %%xmm0, %%xmm0\n\tmovlhps %%xmm0, %%xmm15" ::: "memory");
  };
  EXPECT_EQ(spindle_probe_callee_saved(breaks_rsi, nullptr, 5), 1u << 3);
  EXPECT_EQ(spindle_probe_callee_saved(breaks_xmm15_high, nullptr, 5), 1u << 17);
}
#elif defined(__aarch64__)
TEST(ContextTest, ProbeDetectsAClobberedRegister) {
  auto breaks_x19 = +[](void*) { asm volatile("mov x19, #42" ::: "memory"); };
  auto breaks_d15 = +[](void*) { asm volatile("fmov d15, xzr" ::: "memory"); };
  EXPECT_EQ(spindle_probe_callee_saved(breaks_x19, nullptr, 5), 1u << 0);
  EXPECT_EQ(spindle_probe_callee_saved(breaks_d15, nullptr, 5), 1u << 18);
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

#if defined(__aarch64__)
std::uint64_t fpcr() {
  std::uint64_t v;
  asm volatile("mrs %0, fpcr" : "=r"(v));
  return v;
}
void set_fpcr(std::uint64_t v) { asm volatile("msr fpcr, %0" : : "r"(v)); }

TEST(ContextTest, FpcrIsThreadStateOnAarch64) {
  // AAPCS64 makes FPCR a global register, not a callee-saved one, so the switch
  // leaves it alone (see coro/arch/aarch64.S): a rounding mode set inside a
  // coroutine is still in force after it suspends. This pins that choice down.
  const std::uint64_t before = fpcr();
  const std::uint64_t toward_zero = (before & ~(3ull << 22)) | (3ull << 22);
  Coroutine co([&] {
    set_fpcr(toward_zero);
    Coroutine::current()->suspend();
  });
  co.resume();
  EXPECT_EQ(fpcr(), toward_zero);
  set_fpcr(before);
  co.resume();
  EXPECT_EQ(fpcr(), before);
}
#endif

#if defined(_WIN64)
// The TIB fields that the Win64 switch swaps (coro/arch/x86_64_win64.S).
struct Tib {
  std::uintptr_t exception_list, stack_base, stack_limit, fiber_data, deallocation_stack;
};
Tib read_tib() {
  Tib t;
  asm volatile(
      "movq %%gs:0x00, %0\n\t"
      "movq %%gs:0x08, %1\n\t"
      "movq %%gs:0x10, %2\n\t"
      "movq %%gs:0x20, %3\n\t"
      "movq %%gs:0x1478, %4"
      : "=r"(t.exception_list), "=r"(t.stack_base), "=r"(t.stack_limit), "=r"(t.fiber_data),
        "=r"(t.deallocation_stack));
  return t;
}

TEST(ContextTest, TibDescribesTheRunningStack) {
  const Tib outside = read_tib();
  Tib inside{};
  Tib inside_again{};
  Coroutine co([&] {
    inside = read_tib();
    Coroutine::current()->suspend();
    inside_again = read_tib();
  });
  const auto bottom = reinterpret_cast<std::uintptr_t>(co.stack().bottom());
  const auto top = reinterpret_cast<std::uintptr_t>(co.stack().top());
  MEMORY_BASIC_INFORMATION info{};
  ASSERT_NE(VirtualQuery(co.stack().bottom(), &info, sizeof info), 0u);

  co.resume();
  EXPECT_EQ(inside.exception_list, ~std::uintptr_t{0});
  EXPECT_EQ(inside.stack_limit, bottom);
  // StackBase is the top of the frames: the callable is stored above it.
  EXPECT_GT(inside.stack_base, bottom + co.stack().size() / 2);
  EXPECT_LE(inside.stack_base, top);
  EXPECT_EQ(inside.deallocation_stack, reinterpret_cast<std::uintptr_t>(info.AllocationBase));
  EXPECT_EQ(inside.deallocation_stack,
            reinterpret_cast<std::uintptr_t>(detail::stack_reservation(co.stack())));
  EXPECT_EQ(inside.fiber_data, 0u);

  const Tib between = read_tib();  // the thread's own values are back
  EXPECT_EQ(between.stack_base, outside.stack_base);
  EXPECT_EQ(between.stack_limit, outside.stack_limit);
  EXPECT_EQ(between.deallocation_stack, outside.deallocation_stack);
  EXPECT_EQ(between.exception_list, outside.exception_list);
  EXPECT_EQ(between.fiber_data, outside.fiber_data);

  co.resume();
  EXPECT_EQ(inside_again.stack_base, inside.stack_base);
  EXPECT_EQ(inside_again.stack_limit, inside.stack_limit);
  EXPECT_EQ(inside_again.deallocation_stack, inside.deallocation_stack);
}
#endif

}  // namespace
}  // namespace spindle
