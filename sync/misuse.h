// Who is calling (a fiber or a plain thread), for ownership checks and for the
// messages a sync primitive dies with when it is misused.
#pragma once

#include <cstdint>

#include "spindle/fibers/fiber.h"

namespace spindle::detail {

// caller_id() (fibers/fiber.h): a nonzero id for the caller, the fiber id on a
// fiber and on a plain thread a per-thread number with the top bit set.

// Prints "spindle: <type> <object>: <what> (<caller>)" and aborts. `holder` (a
// caller_id, or 0) is named too when the message is about whoever holds the object.
[[noreturn]] void sync_misuse(const char* type, const void* object, const char* what,
                              std::uint64_t holder = 0) noexcept;

}  // namespace spindle::detail
