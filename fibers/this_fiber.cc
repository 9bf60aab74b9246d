#include "spindle/fibers/this_fiber.h"

#include <thread>

#include "spindle/fibers/fiber.h"
#include "spindle/fibers/waiter.h"

namespace spindle::detail {
void yield_thread() { std::this_thread::yield(); }

Clock::time_point now() {
  if (Fiber* f = current_fiber()) return f->executor()->now();
  if (Executor* e = Executor::current()) return e->now();
  return Clock::now();
}
}  // namespace spindle::detail

namespace spindle::this_fiber {

void sleep_until(Clock::time_point deadline) {
  if (detail::current_fiber() == nullptr) {
    std::this_thread::sleep_until(deadline);  // plain threads live in real time
    return;
  }
  while (detail::now() < deadline) {
    Waiter w;
    w.kind = "sleep";
    w.wait([] { return true; }, deadline);  // nobody notifies: the deadline ends it
  }
}

std::uint64_t id() {
  detail::Fiber* f = detail::current_fiber();
  return f != nullptr ? f->id() : 0;
}

std::string_view name() {
  detail::Fiber* f = detail::current_fiber();
  return f != nullptr ? f->name() : std::string_view{};
}

bool on_fiber() { return detail::current_fiber() != nullptr; }

std::stop_token stop_token() {
  detail::Fiber* f = detail::current_fiber();
  return f != nullptr ? f->stop_token() : std::stop_token{};
}

bool stop_requested() {
  detail::Fiber* f = detail::current_fiber();
  return f != nullptr && f->stop_requested();
}

}  // namespace spindle::this_fiber
