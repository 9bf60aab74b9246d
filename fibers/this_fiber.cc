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

bool sleep_until(Clock::time_point deadline) { return sleep_until(deadline, std::stop_token{}); }

bool sleep_until(Clock::time_point deadline, const std::stop_token& stop) {
  if (detail::current_fiber() == nullptr) {
    // Plain threads live in real time.
    if (!stop.stop_possible()) {
      std::this_thread::sleep_until(deadline);
      return true;
    }
    Waiter w;
    w.kind = "sleep";
    return w.wait([] { return true; }, deadline, stop) != WakeReason::kStopped;
  }
  while (detail::now() < deadline) {
    Waiter w;
    w.kind = "sleep";
    // Nobody notifies: the deadline, the token or the fiber's own stop ends it.
    if (w.wait([] { return true; }, deadline, stop, /*own_stop=*/true) == WakeReason::kStopped) return false;
  }
  return true;
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
