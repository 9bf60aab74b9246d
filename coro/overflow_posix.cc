// coro/overflow.h on POSIX: a SIGSEGV handler on a per-thread alternate signal stack.
#include "spindle/coro/overflow.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "spindle/coro/coroutine.h"
#include "spindle/coro/current.h"
#include "spindle/coro/overflow_message.h"

namespace spindle::detail {
namespace {

struct sigaction g_previous;  // written once under g_install, read by the handler

void on_segv(int sig, siginfo_t* info, void* ucontext) {
  const Coroutine* co = current_coroutine();
  if (co != nullptr && co->stack().overflow_hit(info->si_addr)) {
    char msg[160];
    const std::size_t len = format_stack_overflow(*co, msg, sizeof msg);
    ssize_t ignored = write(STDERR_FILENO, msg, len);
    (void)ignored;
    abort();
  }
  // Not ours: hand it to whoever was installed before us.
  if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(sig, info, ucontext);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN &&
      g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(sig);
    return;
  }
  // Default action: restore it and return; the faulting instruction faults again.
  signal(sig, SIG_DFL);
}

// One alternate signal stack per thread, released when the thread exits.
struct AltStack {
  void* memory = nullptr;
  std::size_t size = 0;

  AltStack() {
    size = static_cast<std::size_t>(SIGSTKSZ) < 64 * 1024 ? 64 * 1024 : SIGSTKSZ;
    memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
      memory = nullptr;
      return;
    }
    stack_t ss{};
    ss.ss_sp = memory;
    ss.ss_size = size;
    sigaltstack(&ss, nullptr);
  }
  ~AltStack() {
    if (memory == nullptr) return;
    stack_t ss{};
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, nullptr);
    munmap(memory, size);
  }
};

}  // namespace

void ensure_overflow_handler() {
  static std::once_flag installed;
  std::call_once(installed, [] {
    struct sigaction sa {};
    sa.sa_sigaction = &on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_previous);
  });
  thread_local AltStack alt_stack;
  (void)alt_stack;
}

}  // namespace spindle::detail
