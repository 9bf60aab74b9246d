#include "spindle/fibers/spawn.h"

namespace spindle::detail {

void handle_misuse(const char* what, std::uint64_t fiber_id) {
  std::fprintf(stderr, "spindle: %s (fiber #%llu)\n", what, static_cast<unsigned long long>(fiber_id));
  std::abort();
}

Executor& default_executor() {
  if (Fiber* f = current_fiber()) return *f->executor();
  if (Executor* e = Executor::current()) return *e;
  throw std::logic_error("spindle::spawn: not on a fiber or executor thread; pass the executor: spawn(sched, fn)");
}

void launch(Fiber* fiber) {
  Fiber* parent = current_fiber();
  if (parent != nullptr && parent->executor() == fiber->executor()) {
    parent->run_child_first(fiber);
  } else {
    fiber->executor()->submit(fiber, Placement::kNext);
  }
}

}  // namespace spindle::detail
