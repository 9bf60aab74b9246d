// One-way context-switch cost: spindle's hand-written switch against Boost.Context's
// raw jump_fcontext, boost::context::fiber and ucontext, in one run.
//
//   ./bazelw run --config=bench //bench:context_switch
//
// Each benchmark iteration is a round trip (two one-way switches); the
// `ns_per_switch` counter is the figure to compare. All four save the same state
// on x86-64: callee-saved GPRs, MXCSR and the x87 control word (ucontext also
// saves the signal mask, with a system call).
#include <benchmark/benchmark.h>
#include <ucontext.h>

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <cstdlib>

#include "spindle/coro/context.h"
#include "spindle/coro/coroutine.h"
#include "spindle/coro/stack.h"

namespace {

constexpr std::size_t kStackSize = 64 * 1024;

benchmark::Counter per_switch() {
  // Two switches per iteration, reported as seconds per switch.
  return benchmark::Counter(2, benchmark::Counter::kIsIterationInvariantRate |
                                   benchmark::Counter::kInvert);
}

// --- spindle: the raw switch ---------------------------------------------------
spindle::detail::Context g_main, g_other;

void spindle_bounce(void*) {
  for (;;) spindle_switch_context(&g_other, &g_main);
}

void BM_spindle_switch(benchmark::State& state) {
  spindle::Stack stack = spindle::Stack::allocate(kStackSize);
  spindle_make_context(&g_other, stack.top(), stack.size(), &spindle_bounce, nullptr);
  for (auto _ : state) spindle_switch_context(&g_main, &g_other);
  state.counters["ns_per_switch"] = per_switch();
}
BENCHMARK(BM_spindle_switch);

// --- spindle: Coroutine resume/suspend (the switch plus bookkeeping) ------------
void BM_spindle_coroutine(benchmark::State& state) {
  spindle::Coroutine co([] {
    for (;;) spindle::Coroutine::current()->suspend();
  });
  for (auto _ : state) co.resume();
  state.counters["ns_per_switch"] = per_switch();
}
BENCHMARK(BM_spindle_coroutine);

// --- Boost.Context: raw jump_fcontext --------------------------------------------
namespace bctx = boost::context::detail;

void fcontext_bounce(bctx::transfer_t t) {
  for (;;) t = bctx::jump_fcontext(t.fctx, nullptr);
}

void BM_boost_jump_fcontext(benchmark::State& state) {
  spindle::Stack stack = spindle::Stack::allocate(kStackSize);
  bctx::fcontext_t other = bctx::make_fcontext(stack.top(), stack.size(), &fcontext_bounce);
  for (auto _ : state) other = bctx::jump_fcontext(other, nullptr).fctx;
  state.counters["ns_per_switch"] = per_switch();
}
BENCHMARK(BM_boost_jump_fcontext);

// --- Boost.Context: boost::context::fiber ------------------------------------------
void BM_boost_context_fiber(benchmark::State& state) {
  namespace ctx = boost::context;
  bool stop = false;
  ctx::fiber other{[&stop](ctx::fiber&& caller) {
    while (!stop) caller = std::move(caller).resume();
    return std::move(caller);
  }};
  for (auto _ : state) other = std::move(other).resume();
  stop = true;
  std::move(other).resume();
  state.counters["ns_per_switch"] = per_switch();
}
BENCHMARK(BM_boost_context_fiber);

// --- ucontext ---------------------------------------------------------------------------
ucontext_t g_uc_main, g_uc_other;

void ucontext_bounce() {
  for (;;) swapcontext(&g_uc_other, &g_uc_main);
}

void BM_ucontext_swapcontext(benchmark::State& state) {
  spindle::Stack stack = spindle::Stack::allocate(kStackSize);
  getcontext(&g_uc_other);
  g_uc_other.uc_stack.ss_sp = stack.bottom();
  g_uc_other.uc_stack.ss_size = stack.size();
  g_uc_other.uc_link = nullptr;
  makecontext(&g_uc_other, &ucontext_bounce, 0);
  for (auto _ : state) swapcontext(&g_uc_main, &g_uc_other);
  state.counters["ns_per_switch"] = per_switch();
}
BENCHMARK(BM_ucontext_swapcontext);

}  // namespace
