// Deadline: when a blocking call of spindle::net or spindle::io gives up with
// std::errc::timed_out. None (the default), a point in time, or a duration from
// now (measured on the steady clock when the Deadline is made).
//
//   stream.read_some(buf, 200ms);                       // relative
//   stream.read_some(buf, spindle::Clock::now() + 1s);  // absolute
#pragma once

#include <chrono>
#include <optional>

#include "spindle/sched/executor.h"

namespace spindle::net {

class Deadline {
 public:
  // No deadline: the call waits as long as it takes.
  Deadline() = default;
  // Gives up at `at`.
  Deadline(Clock::time_point at) : at_(at) {}  // NOLINT: implicit on purpose
  // Gives up `timeout` after now.
  template <class Rep, class Period>
  Deadline(std::chrono::duration<Rep, Period> timeout)  // NOLINT: implicit on purpose
      : at_(Clock::now() + std::chrono::ceil<Clock::duration>(timeout)) {}

  // The point in time, if any.
  std::optional<Clock::time_point> at() const { return at_; }
  // Whether there is one.
  explicit operator bool() const { return at_.has_value(); }

 private:
  std::optional<Clock::time_point> at_;
};

}  // namespace spindle::net
