#include "spindle/sched/executor.h"

namespace spindle {
namespace {
thread_local Executor* tls_executor = nullptr;
}  // namespace

Executor* Executor::current() { return tls_executor; }
void Executor::set_current(Executor* executor) { tls_executor = executor; }

}  // namespace spindle
