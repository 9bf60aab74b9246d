// at_thread_exit (sched/os_thread.h) through a pthread key, which Linux and
// mingw-w64's winpthreads (what std::thread runs on there) both provide.
//
// Why not a thread_local with a destructor: mingw-w64 has no native TLS, and GCC
// emulates it (emutls); the storage of every thread_local of a thread is one
// allocation that a winpthreads key destructor frees when the thread function
// returns, and the C++ thread_local destructors run after that, from the thread's
// detach callback, on freed heap. The value of a pthread key lives in the thread
// library's own table, so this key's destructor finds the registrations without
// touching a thread_local.
#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "spindle/sched/os_thread.h"

namespace spindle::detail {
namespace {

struct ExitCall {
  void (*fn)(void*);
  void* arg;
};
using ExitCalls = std::vector<ExitCall>;

void run_exit_calls(void* value) {
  auto* calls = static_cast<ExitCalls*>(value);
  // The key's value is null by now: a call that registers another one starts a
  // new list, which the thread library's next round of key destructors runs.
  for (auto it = calls->rbegin(); it != calls->rend(); ++it) it->fn(it->arg);
  delete calls;
}

pthread_key_t exit_key() {
  static const pthread_key_t key = [] {
    pthread_key_t k;
    if (pthread_key_create(&k, &run_exit_calls) != 0) {
      std::fputs("spindle: pthread_key_create failed (at_thread_exit)\n", stderr);
      std::abort();
    }
    return k;
  }();
  return key;
}

}  // namespace

void at_thread_exit(void (*fn)(void*), void* arg) {
  const pthread_key_t key = exit_key();
  auto* calls = static_cast<ExitCalls*>(pthread_getspecific(key));
  if (calls == nullptr) {
    calls = new ExitCalls;
    pthread_setspecific(key, calls);
  }
  calls->push_back({fn, arg});
}

}  // namespace spindle::detail
