#include "spindle/sched/executor.h"

namespace spindle {
namespace {
thread_local Executor* tls_executor = nullptr;
}  // namespace

Executor* Executor::current() { return tls_executor; }
void Executor::set_current(Executor* executor) { tls_executor = executor; }

void Executor::submit_batch(Task* first, std::size_t n) {
  // Read each `next` before submitting: once submitted, the queue owns it.
  for (Task* t = first; n > 0; --n) {
    Task* next = t->next;
    submit(t, Placement::kBack);
    t = next;
  }
}

}  // namespace spindle
