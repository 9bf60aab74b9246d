// coro_demo: two coroutines taking turns on one thread, a coroutine that throws,
// and one destroyed half-way — printing each step.
//
//   ./bazelw run //examples:coro_demo
#include <cstdio>
#include <stdexcept>
#include <string>

#include "spindle/coro/coroutine.h"

namespace {

struct Announce {
  const char* what;
  ~Announce() { std::printf("  [%s] destructor ran\n", what); }
};

}  // namespace

int main() {
  using spindle::Coroutine;

  std::puts("1. Two coroutines take turns; each resume() runs one until it suspends:");
  auto counter = [](const char* who, int n) {
    return [who, n] {
      for (int i = 1; i <= n; ++i) {
        std::printf("  %s: step %d of %d\n", who, i, n);
        Coroutine::current()->suspend();
      }
    };
  };
  Coroutine ping(counter("ping", 3), {.name = "ping"});
  Coroutine pong(counter("pong", 2), {.name = "pong"});
  while (!ping.done() || !pong.done()) {
    if (!ping.done()) ping.resume();
    if (!pong.done()) pong.resume();
  }

  std::puts("2. An exception escaping a coroutine is rethrown by resume():");
  Coroutine thrower([] { throw std::runtime_error("thrown on the coroutine's own stack"); });
  try {
    thrower.resume();
  } catch (const std::exception& e) {
    std::printf("  caught: %s\n", e.what());
  }

  std::puts("3. Destroying an unfinished coroutine unwinds its stack:");
  {
    Coroutine abandoned([] {
      Announce guard{"abandoned"};
      std::puts("  abandoned: suspending forever");
      Coroutine::current()->suspend();
      std::puts("  (never printed)");
    });
    abandoned.resume();
    std::puts("  destroying it now");
  }

  std::printf("4. Stacks are %zu KiB, mmap'd above a guard region; overflowing one prints\n"
              "   \"stack overflow in fiber <name>\" and aborts.\n",
              spindle::kDefaultStackSize / 1024);
  std::puts("done");
  return 0;
}
